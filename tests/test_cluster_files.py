"""The cluster examples of docs/cluster/ are well formed (checked for syntax, not run)."""

from __future__ import annotations

import subprocess

import yaml

from run_search import build_parser
from tests.helpers import ROOT

CLUSTER = ROOT / "docs" / "cluster"


def test_the_slurm_script_is_valid_bash_and_runs_the_worker_command():
    script = CLUSTER / "slurm-workers.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert "run_search.py worker --study" in script.read_text()


def test_the_kubernetes_job_is_a_job_whose_command_the_cli_accepts():
    manifest = yaml.safe_load((CLUSTER / "k8s-workers.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["python", "run_search.py"]
    args = build_parser().parse_args(command[2:])
    assert (args.command, args.study, args.jobs) == ("worker", "big", 2)
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "url"  # the password stays in a Secret
