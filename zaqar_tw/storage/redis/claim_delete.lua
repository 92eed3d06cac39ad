-- Release a claim: its messages become claimable again.  ARGV: now, claim id.  Returns 0.
release(ARGV[2])
return 0
