"""pip-audit that says what it could not check.

pip-audit fails on a known vulnerability, but a dependency it cannot look up (a
package index that serves no vulnerability data answers "not found" for every one)
is only listed as skipped, and the run still ends with "No known vulnerabilities
found". This runs pip-audit (any options are passed on), fails on a known
vulnerability as pip-audit does, and when some dependencies could not be audited
says how many and fails too, unless AUDIT_OPTIONAL=1.

    python tools/audit_dependencies.py --skip-editable
    AUDIT_OPTIONAL=1 python tools/audit_dependencies.py --skip-editable

Exit 0: everything audited, no known vulnerability (or some not audited, with
AUDIT_OPTIONAL=1); 1: a known vulnerability, or dependencies not audited; pip-audit's
own exit code when it failed before auditing anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# skipped on purpose with --skip-editable: the project itself, not a dependency
EDITABLE = "distribution marked as editable"


def pip_audit_command() -> str:
    """pip-audit next to this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / "pip-audit"
    return str(beside) if beside.exists() else (shutil.which("pip-audit") or "pip-audit")


def optional() -> bool:
    return os.environ.get("AUDIT_OPTIONAL", "").strip().lower() in ("1", "true", "yes")


def main(argv: list[str]) -> int:
    cmd = [pip_audit_command(), "--format", "json", "--progress-spinner", "off", *argv]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        print(f"pip-audit: cannot run {cmd[0]} ({exc}); install it with pip install "
              "pip-audit", file=sys.stderr)
        return 1
    try:
        report = json.loads(done.stdout)
    except ValueError:
        sys.stderr.write(done.stderr)
        print(f"pip-audit: failed (exit {done.returncode}) before auditing anything",
              file=sys.stderr)
        return done.returncode or 1
    deps = [d for d in report.get("dependencies", []) if d.get("skip_reason") != EDITABLE]
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
    audited = len(deps) - len(skipped)
    if vulnerable:
        count = sum(len(d["vulns"]) for d in vulnerable)
        print(f"pip-audit: {count} known vulnerabilities in {len(vulnerable)} of "
              f"{audited} audited dependencies")
    elif audited:
        print(f"pip-audit: no known vulnerabilities in the {audited} dependencies audited")
    if skipped:
        print(f"pip-audit: {len(skipped)} of {len(deps)} dependencies could not be audited "
              "(the package index serves no vulnerability data); no vulnerability check "
              "was made for them")
        reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
        print(f"  not audited: {', '.join(d['name'] for d in skipped)} "
              f"(pip-audit: {'; '.join(reasons)})")
        if not optional():
            print("  set AUDIT_OPTIONAL=1 to pass without that check", file=sys.stderr)
    if vulnerable or (skipped and not optional()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
