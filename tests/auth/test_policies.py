"""The rules in code (spec section 8), their samples in etc/, and oslo.policy's command-line
tools run on them."""

import json
import os
import subprocess
import sys

from oslo_policy import policy

from zaqar_tw.auth.policies import defaults_as_json, list_rules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ADMIN = "role:admin"

# Spec section 8, rule by rule.
SPEC = {
    "context_is_admin": ADMIN,
    "admin_or_owner": "is_admin:True or project_id:%(project_id)s",
    **{f"queues:{verb}": "" for verb in
       ("get_all", "create", "get", "delete", "update", "stats", "share", "purge")},
    **{f"messages:{verb}": "" for verb in ("get_all", "create", "get", "delete", "delete_all")},
    **{f"claims:{verb}": "" for verb in ("create", "get", "update", "delete")},
    **{f"subscription:{verb}": "" for verb in
       ("get_all", "create", "get", "delete", "update", "confirm")},
    **{f"topics:{verb}": "" for verb in
       ("get_all", "create", "get", "delete", "update", "stats", "purge")},
    "ping:get": "",
    "health:get": ADMIN,
    **{f"pools:{verb}": ADMIN for verb in ("get_all", "create", "get", "delete", "update")},
    "flavors:get_all": "",
    "flavors:get": "",
    **{f"flavors:{verb}": ADMIN for verb in ("create", "update", "delete")},
}
# Beyond the spec: who is held to no [limits] rate or quota (nobody).
OWN = {"limits:exempt": "!"}


def run(*argv):
    """Run a console script of this environment; returns its standard output."""
    done = subprocess.run([os.path.join(BIN, argv[0]), *argv[1:]], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_rules_are_those_of_the_spec():
    """Every rule of spec section 8 is in code with its default, and zaqar-tw's own; each
    spec rule past the base rules is documented with a description and the operations it
    guards."""
    rules = list_rules()
    assert {rule.name: rule.check_str for rule in rules} == {**SPEC, **OWN}
    assert len(rules) == len(SPEC) + len(OWN)
    for rule in rules[2:len(SPEC)]:
        assert isinstance(rule, policy.DocumentedRuleDefault), rule.name
        assert rule.description and rule.operations, rule.name
        for operation in rule.operations:
            assert operation["method"] in ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
            assert operation["path"].startswith("/v2/"), rule.name


def test_sample_generator_prints_every_rule():
    """oslopolicy-sample-generator --namespace zaqar_tw prints each rule, commented, with its
    description and operations; etc/policy.yaml is exactly that output."""
    output = run("oslopolicy-sample-generator", "--namespace", "zaqar_tw")
    for name, check in SPEC.items():
        assert f"#{json.dumps(name)}: {json.dumps(check)}\n" in output, name
    assert "# POST  /v2/queues/{queue_name}/messages\n" in output
    assert "# Run the detailed health check (admin mode). WebSocket:" in output
    with open(os.path.join(ROOT, "etc", "policy.yaml"), encoding="utf-8") as handle:
        assert handle.read() == output


def test_json_sample_is_the_defaults():
    """etc/policy.json is what ``python -m zaqar_tw.auth.policies`` prints: every rule with its
    default."""
    output = run("python", "-m", "zaqar_tw.auth.policies")
    assert output == defaults_as_json()
    assert json.loads(output) == {**SPEC, **OWN}
    with open(os.path.join(ROOT, "etc", "policy.json"), encoding="utf-8") as handle:
        assert handle.read() == output


def test_policy_tools_read_the_configured_file(tmp_path):
    """oslopolicy-policy-generator prints the rules in force (the file's over the defaults)
    and oslopolicy-list-redundant the file rules equal to their defaults, both for the
    zaqar.conf named with --config-file."""
    (tmp_path / "rules.yaml").write_text('"queues:create": "role:ops"\n"ping:get": ""\n')
    conf = tmp_path / "zaqar.conf"
    conf.write_text("[oslo_policy]\npolicy_file = rules.yaml\n")
    effective = run("oslopolicy-policy-generator", "--namespace", "zaqar_tw",
                    "--config-file", str(conf))
    assert '"queues:create": "role:ops"\n' in effective
    assert '"health:get": "role:admin"\n' in effective
    redundant = run("oslopolicy-list-redundant", "--namespace", "zaqar_tw",
                    "--config-file", str(conf))
    assert redundant == '"ping:get": ""\n'
