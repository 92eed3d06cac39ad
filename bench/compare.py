"""zaqar-tw and OpenStack Zaqar side by side: ``bench/compare --help``.

Installs ``zaqar==23.0.1`` (and gunicorn) into ``bench/.zaqar-venv`` the first time (never a
dependency of zaqar-tw), writes its configuration under ``bench/.zaqar-venv/run/``, and runs
it with its Redis driver and no authentication under gunicorn (1 worker, 4 threads) on the
same Redis as zaqar-tw, each on a database of its own.  Both servers are pinned to the same
CPU; the load generator and Redis run on another.  Every workload runs against each server
in turn, A B A B, for three rounds; the table gives each server's median and their ratio.
``ws_idle`` (idle WebSocket connections and the server's memory) runs once per server,
after the rounds, and is printed below the table.
"""

import argparse
import os
import subprocess
import sys
import time

import zaqar_bench as zb

ZAQAR_VERSION = "23.0.1"
ZAQAR_VENV = os.path.join(zb.BENCH, ".zaqar-venv")
ZAQAR_RUN = os.path.join(ZAQAR_VENV, "run")
INSTALLED_MARK = os.path.join(ZAQAR_VENV, f".installed-zaqar-{ZAQAR_VERSION}")

ZAQAR_CONF = """\
# Written by bench/compare: OpenStack Zaqar {version} on Redis.
[DEFAULT]
auth_strategy = {auth_strategy}
pooling = false
unreliable = true

[drivers]
transport = {transport}
message_store = redis
management_store = redis

[drivers:message_store:redis]
uri = redis://{host}:{port}?dbid={db}

[drivers:management_store:redis]
uri = redis://{host}:{port}?dbid={db}

[drivers:transport:websocket]
bind = 127.0.0.1
port = {ws_port}
"""
# With --auth keystone: keystonemiddleware's options, its token cache in the process (no
# memcached), as zaqar-tw validates with its own in-process cache.
KEYSTONE_AUTHTOKEN = "\n[keystone_authtoken]\n{options}\n"


def base_python():
    """The interpreter the Zaqar virtualenv is made from (the base of ours, if any)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure_zaqar():
    """Create ``bench/.zaqar-venv`` with Zaqar, its Redis client and gunicorn, unless it is
    already there."""
    if os.path.exists(INSTALLED_MARK):
        return
    zb.say(f"installing zaqar=={ZAQAR_VERSION} and gunicorn into {ZAQAR_VENV} "
           f"(once; a few minutes)")
    if not os.path.exists(os.path.join(ZAQAR_VENV, "bin", "python")):
        subprocess.run([base_python(), "-m", "venv", ZAQAR_VENV], check=True)
    pip = [os.path.join(ZAQAR_VENV, "bin", "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    # redis-py is an optional dependency of Zaqar that its Redis driver needs.
    subprocess.run(pip + [f"zaqar=={ZAQAR_VERSION}", "gunicorn", "redis"], check=True)
    with open(INSTALLED_MARK, "w", encoding="ascii") as handle:
        handle.write(f"zaqar {ZAQAR_VERSION}\n")


class Zaqar(zb.Server):
    """OpenStack Zaqar's WSGI app under gunicorn (1 worker, 4 threads), or with
    ``websocket`` its own WebSocket server (``zaqar-server``)."""

    name = "zaqar"

    def __init__(self, redis, db, cpus, log_path, websocket=False, keystone=None):
        """:param keystone: a started ``tests.keystone_server.KeystoneServer`` whose tokens
            Zaqar validates through keystonemiddleware (:attr:`token` is then a token of a
            fresh project of it), or ``None`` for no authentication."""
        super().__init__(cpus, log_path)
        self.port = zb.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.websocket = websocket
        self.ws_port = zb.free_port()
        self.ws_url = f"ws://127.0.0.1:{self.ws_port}" if websocket else None
        kind = "ws" if websocket else "wsgi"
        self.home = os.path.join(ZAQAR_RUN, f"home-{kind}")
        os.makedirs(os.path.join(self.home, ".zaqar"), exist_ok=True)
        self.conf = os.path.join(self.home, ".zaqar", "zaqar.conf")
        text = ZAQAR_CONF.format(
            version=ZAQAR_VERSION, transport="websocket" if websocket else "wsgi",
            host=redis.host, port=redis.port, db=db, ws_port=self.ws_port,
            auth_strategy="keystone" if keystone is not None else "",
        )
        if keystone is not None:
            options = keystone.authtoken_options()
            text += KEYSTONE_AUTHTOKEN.format(
                options="\n".join(f"{key} = {value}" for key, value in options.items())
            )
            self.token = keystone.project_token("alice", keystone.new_project("alice"))
        with open(self.conf, "w", encoding="utf-8") as handle:
            handle.write(text)

    def argv(self):
        bin_dir = os.path.join(ZAQAR_VENV, "bin")
        if self.websocket:
            return [os.path.join(bin_dir, "zaqar-server"), "--config-file", self.conf]
        return [
            os.path.join(bin_dir, "gunicorn"), "--workers", "1", "--threads", "4",
            "--bind", f"127.0.0.1:{self.port}", "zaqar.transport.wsgi.app:app",
        ]

    def env(self):
        # Its configuration is found as ~/.zaqar/zaqar.conf of a HOME of its own.
        return dict(os.environ, HOME=self.home)

    def cwd(self):
        return self.home

    def start(self, timeout=120):
        if not self.websocket:
            return super().start(timeout)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                zb.pinned(self.cpus, self.argv()), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env(), cwd=self.cwd(),
                start_new_session=True,
            )

        def listening():
            if self.process.poll() is not None:
                raise RuntimeError(f"zaqar-server exited:\n{self.log_tail()}")
            with zb.socket.create_connection(("127.0.0.1", self.ws_port), timeout=1):
                return True

        zb.wait_for(listening, timeout, f"Zaqar's WebSocket server on port {self.ws_port}")
        return self


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench/compare",
        description=f"Run each workload against zaqar-tw and OpenStack Zaqar {ZAQAR_VERSION} "
                    f"alternately and print the medians and their ratio.",
    )
    parser.add_argument("--workloads", default=None,
                        help="comma-separated (default: the REST workloads, and the "
                             "WebSocket ones and ws_idle when bench/ws_load.py is there)")
    parser.add_argument("--idle-connections", type=int, default=zb.IDLE_CONNECTIONS,
                        help=f"idle WebSocket connections of ws_idle ({zb.IDLE_CONNECTIONS})")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A B (3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--connections", type=int, default=zb.CONNECTIONS,
                        help=f"connections of the load generator ({zb.CONNECTIONS})")
    parser.add_argument("--server-cpus", default=None,
                        help="CPUs of both servers (default: the first CPU)")
    parser.add_argument("--load-cpus", default=None,
                        help="CPUs of the load generator and Redis (default: the last CPU)")
    parser.add_argument("--redis", default=None,
                        help="host:port of a running Redis (default: a private one)")
    parser.add_argument("--no-half", action="store_true",
                        help="skip the latency runs at half zaqar-tw's peak")
    parser.add_argument("--auth", choices=("noauth", "keystone"), default="noauth",
                        help="keystone: run a Keystone (tests/keystone_server.py) and have "
                             "both servers validate a token sent with each request, zaqar-tw "
                             "with its own Keystone client, Zaqar with keystonemiddleware "
                             "(REST workloads only)")
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    return parser.parse_args(argv)


def ws_workloads_available():
    """Whether the WebSocket load generator is there."""
    return os.path.exists(zb.WS_LOAD)


def fmt_rate(value):
    return f"{value:,.0f}"


def fmt_cpu(value):
    return "?" if value is None else f"{value:,.0f}"


def table(rows, machine, pinning, args):
    """The side-by-side table as Markdown lines."""
    lines = [
        f"zaqar-tw vs OpenStack Zaqar {ZAQAR_VERSION} (gunicorn, 1 worker, 4 threads), "
        f"medians of {args.rounds} rounds of {args.duration} s, {args.connections} "
        f"connections" + (", both validating Keystone tokens" if args.auth == "keystone"
                          else ""),
        "",
        f"machine: {machine}",
        f"pinning: {pinning}",
        "",
        "| workload | unit | zaqar-tw | Zaqar | ratio | zaqar-tw p50 / p99 ms | "
        "Zaqar p50 / p99 ms | server CPU us/request, zaqar-tw / Zaqar |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, unit, ours, theirs in rows:
        ratio = ours.rate / theirs.rate if theirs.rate else float("inf")
        lines.append(
            f"| {name} | {unit} | {fmt_rate(ours.rate)} | {fmt_rate(theirs.rate)} | "
            f"{ratio:.1f}x | {ours.p50_ms:.2f} / {ours.p99_ms:.2f} | "
            f"{theirs.p50_ms:.2f} / {theirs.p99_ms:.2f} | "
            f"{fmt_cpu(ours.cpu_us)} / {fmt_cpu(theirs.cpu_us)} |"
        )
    return lines


def median_figures(runs):
    """A :class:`zb.Figures` holding the medians of several runs of one workload."""
    return zb.Figures(
        runs[0].workload, zb.median([r.rate for r in runs]), runs[0].unit,
        zb.median([r.p50_ms for r in runs]), zb.median([r.p99_ms for r in runs]),
        zb.median([r.requests_per_s for r in runs]),
        zb.median([r.cpu_us for r in runs]) if all(r.cpu_us for r in runs) else None,
        sorted({note for r in runs for note in r.notes}),
    )


def main(argv=None):
    args = parse_args(argv)
    if args.workloads:
        workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    else:
        workloads = list(zb.REST_WORKLOADS)
        if ws_workloads_available():
            workloads += list(zb.WS_WORKLOADS) + [zb.IDLE_WORKLOAD]
    if zb.NOTIFY_WORKLOAD in workloads:
        raise SystemExit("notify runs with bench/run only: it is not compared with Zaqar yet "
                         "(bench/README.md says why)")
    for name in workloads:
        if name in zb.WS_WORKLOADS + (zb.IDLE_WORKLOAD,) and not ws_workloads_available():
            raise SystemExit(f"{name} needs bench/ws_load.py, which is not there yet")
    if args.auth == "keystone" and any(name not in zb.REST_WORKLOADS for name in workloads):
        raise SystemExit("--auth keystone: REST workloads only")
    wants_idle = zb.IDLE_WORKLOAD in workloads
    workloads = [name for name in workloads if name != zb.IDLE_WORKLOAD]
    wants_ws = wants_idle or any(name in zb.WS_WORKLOADS for name in workloads)
    if wants_idle:
        zb.raise_open_files(args.idle_connections + 256)
    zb.ensure_wrk()
    ensure_zaqar()
    server_cpus, load_cpus = zb.default_cpus(args.server_cpus, args.load_cpus)
    machine = zb.describe_machine()
    zb.say(f"machine: {machine}")
    os.makedirs(ZAQAR_RUN, exist_ok=True)
    logdir = zb.tempfile.mkdtemp(prefix="zaqar-compare-")
    keystone = zb.start_keystone() if args.auth == "keystone" else None
    redis = zb.redis_target(args.redis, load_cpus)
    servers = []
    try:
        redis.claim(13)
        redis.claim(14)
        ours = zb.ZaqarTw(redis, 13, server_cpus, os.path.join(logdir, "zaqar-tw.log"),
                          websocket=wants_ws, keystone=keystone).start()
        servers.append(ours)
        theirs = Zaqar(redis, 14, server_cpus, os.path.join(logdir, "zaqar.log"),
                       keystone=keystone).start()
        servers.append(theirs)
        if keystone is not None:
            for server in (ours, theirs):
                status, _ = zb.request(server.url, "GET", "/v2/queues", project="bench-check")
                if status != 401:
                    raise SystemExit(f"{server.name} answered {status} to a request without "
                                     f"a token: it does not validate tokens")
        theirs_ws = None
        if wants_ws:
            theirs_ws = Zaqar(redis, 14, server_cpus, os.path.join(logdir, "zaqar-ws.log"),
                              websocket=True).start()
            servers.append(theirs_ws)
        zaqar_ws = f", its WebSocket server {theirs_ws.pinning()}" if theirs_ws else ""
        ws_clients = (f"; WebSocket clients (bench/ws_load.py, bench/ws_idle.py) on CPU "
                      f"{load_cpus}" if wants_ws else "")
        pinning = (
            f"zaqar-tw {ours.pinning()}; Zaqar {theirs.pinning()}{zaqar_ws} (all taskset -c "
            f"{server_cpus}); wrk on CPU {load_cpus} (taskset -c {load_cpus}, 1 thread)"
            f"{ws_clients}; {redis.describe()}"
        )
        zb.say(f"pinning: {pinning}")
        benches = {
            "zaqar-tw": zb.RestBench(ours.url, load_cpus, args.duration, args.connections,
                                     cpu=ours.cpu_seconds, token=ours.token),
            "Zaqar": zb.RestBench(theirs.url, load_cpus, args.duration, args.connections,
                                  cpu=theirs.cpu_seconds, token=theirs.token),
        }
        benches["Zaqar"].claim_rate_hint = 3000
        ws_servers = {"zaqar-tw": ours, "Zaqar": theirs_ws}
        runs = {(w, s): [] for w in workloads for s in benches}
        ws_runs = {}
        started = time.monotonic()
        for round_number in range(1, args.rounds + 1):
            for workload in workloads:
                for side in benches:
                    if workload in zb.WS_WORKLOADS:
                        # One run of ws_load.py measures both WebSocket workloads.
                        if (round_number, side) not in ws_runs:
                            ws_runs[round_number, side] = zb.run_ws(
                                ws_servers[side].ws_url, args, load_cpus,
                                ws_servers[side].cpu_seconds)
                        figures = ws_runs[round_number, side][workload]
                    else:
                        figures = benches[side].run(workload)
                    runs[workload, side].append(figures)
                    zb.say(f"round {round_number}  {side:<8}  {figures.line()}")
        half_lines = []
        if not args.no_half:
            for workload in zb.HALF_PEAK:
                if workload not in workloads:
                    continue
                peak = median_figures(runs[workload, "zaqar-tw"])
                half = benches["zaqar-tw"].half_peak(workload, peak)
                half.workload = f"{workload}@half"
                zb.say(f"zaqar-tw at half its peak: {half.line()}")
                half_lines.append(
                    f"zaqar-tw at half its peak, {workload}: {half.requests_per_s:,.0f} "
                    f"requests/s over {zb.PACED_CONNECTIONS} connections (Poisson "
                    f"arrivals): p50 {half.p50_ms:.2f} ms, p99 {half.p99_ms:.2f} ms"
                )
        idle_lines = []
        if wants_idle:
            idle = {side: zb.run_ws_idle(ws_servers[side].ws_url,
                                         ws_servers[side].process.pid, load_cpus,
                                         args.idle_connections)
                    for side in ws_servers}
            for side, figures in idle.items():
                zb.say(f"{side:<8}  {figures.line()}")
            idle_lines.append(
                f"Idle WebSocket connections, {idle['zaqar-tw'].connections:,} held open "
                f"(server RSS before -> after): "
                + "; ".join(f"{side} {f.per_connection_kib:.1f} KiB each "
                            f"({f.before_kib / 1024:,.0f} -> {f.after_kib / 1024:,.0f} MiB)"
                            for side, f in idle.items())
            )
        rows = []
        for workload in workloads:
            ours_median = median_figures(runs[workload, "zaqar-tw"])
            theirs_median = median_figures(runs[workload, "Zaqar"])
            rows.append((workload, ours_median.unit, ours_median, theirs_median))
        lines = table(rows, machine, pinning, args)
        if not rows:  # ws_idle alone: no table
            lines = lines[:5]
        if half_lines:
            lines += [""] + half_lines
        if idle_lines:
            lines += [""] + idle_lines
        notes = sorted({f"{side} {w}: {note}" for (w, side), rs in runs.items()
                        for r in rs for note in r.notes})
        if notes:
            lines += ["", "notes:"] + [f"- {note}" for note in notes]
        lines += ["", f"({time.monotonic() - started:.0f} s of runs)"]
        zb.say("")
        zb.say("\n".join(lines))
        if args.markdown:
            with open(args.markdown, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
    finally:
        for server in reversed(servers):
            server.stop()
        redis.close()
        if keystone is not None:
            keystone.remove()


if __name__ == "__main__":
    main()
