"""Install a throw-away distribution with entry points, the way pip would leave one: a
``*.dist-info`` directory (and any modules) in a directory put on ``sys.path``.

``importlib.metadata`` reads ``sys.path`` on every lookup, so the entry points are visible at
once, and gone when the test's ``monkeypatch`` undoes the path change.
"""

import textwrap


def install(directory, monkeypatch, entry_points, modules=None, name="zaqar_tw_test_plugins"):
    """Register ``entry_points`` (``{group: {name: "module:attr"}}``) for this test.

    :param directory: an empty directory (e.g. ``tmp_path``) to hold the distribution.
    :param modules: ``{module name: source}`` written beside it, importable by name.
    """
    info = directory / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, named in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {value}" for key, value in named.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    for module, source in (modules or {}).items():
        (directory / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(directory))
