"""The real Azure CLI (`azure-cli` from PyPI, in its own cached venv) against the emulator over HTTPS.

`adr-emulator az-env` gives the shell lines that register the emulator as a cloud and log in with
its token endpoint; then `az group create`, `az deployment group create` (our full-setup
template), `az deployment group what-if`, `az rest` for the credential sync, and a failing
deployment that must make az exit non-zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provider.config import DEFAULT_TENANT
from tests.e2e.client_venvs import ensure_venv
from tests.support.emulator_process import ROOT, EmulatorProcess

# the first run installs azure-cli into its own venv (minutes on a fresh machine); later runs reuse it
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def az_bin() -> Path:
    return ensure_venv("az-venv", "azure-cli", ["-c", "import azure.cli.core"]) / "bin" / "az"


def run_az_script(az: Path, env_lines: str, body: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ADR_EMULATOR_"))}
    env["PATH"] = f"{az.parent}:{env['PATH']}"
    script = "set -e\n" + env_lines + "\n" + body
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def az_session(az_bin, tmp_path_factory):
    data = tmp_path_factory.mktemp("az-data")
    with EmulatorProcess(data_dir=data) as emu:
        lines = subprocess.check_output(
            [sys.executable, "-m", "provider", "az-env", "--url", emu.https, "--data-dir", str(data),
             "--az-config-dir", str(data / "azure-cli")], cwd=ROOT, text=True)
        login = run_az_script(az_bin, lines, "az account show -o json", data)
        assert login.returncode == 0, login.stdout + login.stderr
        yield az_bin, lines, data, emu


def test_az_login_and_account(az_session):
    az, lines, data, _ = az_session
    result = run_az_script(az, lines, "az account show -o json", data)
    account = json.loads(result.stdout)
    assert account["id"] == "00000000-0000-0000-0000-000000000000" and account["state"] == "Enabled"


def test_az_deploys_the_full_setup_template(az_session):
    az, lines, data, _ = az_session
    template = ROOT / "arm_templates" / "full-setup.json"
    params = ROOT / "arm_templates" / "full-setup.parameters.json"
    result = run_az_script(az, lines, f"""
az group create -n az-rg -l eastus -o none
az deployment group create -g az-rg -n full --template-file {template} --parameters @{params} -o json > deploy.json
az deployment group what-if -g az-rg -n full --template-file {template} --parameters @{params} --no-pretty-print \
   -o json > whatif.json
SYNC=$(python3 -c "import json;print(json.load(open('deploy.json'))['properties']['outputs']['syncUrl']['value'])")
az rest --method post --url "$SYNC" -o none
HUB=$(python3 -c "import json;print(json.load(open('deploy.json'))['properties']['outputs']['hubName']['value'])")
az rest --method get --url "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/az-rg/providers/\
Microsoft.Devices/IotHubs/$HUB/certificates?api-version=2025-08-01-preview" -o json > certs.json
az deployment operation group list -g az-rg -n full -o json > ops.json
""", data)
    assert result.returncode == 0, result.stdout + result.stderr
    deployed = json.loads((data / "deploy.json").read_text())
    assert deployed["properties"]["provisioningState"] == "Succeeded"
    outputs = deployed["properties"]["outputs"]
    assert outputs["dpsIdScope"]["value"].startswith("0ne")
    whatif = json.loads((data / "whatif.json").read_text())
    assert {c["changeType"] for c in whatif["changes"]} <= {"NoChange", "Ignore"}
    certs = json.loads((data / "certs.json").read_text())["value"]
    assert sorted(c["properties"]["policyResourceId"] for c in certs) == sorted(outputs["policyIds"]["value"])
    assert len(json.loads((data / "ops.json").read_text())) >= 8


def test_az_exits_non_zero_when_the_deployment_fails(az_session, tmp_path):
    az, lines, data, _ = az_session
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.DeviceRegistry/namespaces", "apiVersion": "2026-03-01-preview",
                       "name": "Not_Valid", "location": "eastus"}]}))
    result = run_az_script(az, lines, f"""
az group create -n az-bad -l eastus -o none
az deployment group create -g az-bad -n bad --template-file {bad}
""", data)
    assert result.returncode != 0
    assert "InvalidResourceName" in result.stderr + result.stdout
    syntax = tmp_path / "syntax.json"
    syntax.write_text('{"$schema": "x", "contentVersion": "1.0.0.0", "resources": [], '
                      '"outputs": {"o": {"type": "string", "value": "[concat(\'a\' \'b\')]"}}}')
    result = run_az_script(az, lines, f"az deployment group create -g az-bad -n syntax --template-file {syntax}", data)
    assert result.returncode != 0 and "InvalidTemplate" in result.stderr + result.stdout


def test_az_role_assignment_by_role_name(az_session):
    az, lines, data, _ = az_session
    result = run_az_script(az, lines, """
az group create -n az-roles -l eastus -o none
NS=$(az rest --method put --url "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/az-roles/\
providers/Microsoft.DeviceRegistry/namespaces/ns-roles?api-version=2026-03-01-preview" \
  --body '{"location": "eastus"}' --query id -o tsv)
az role assignment create --assignee-object-id 33333333-3333-3333-3333-333333333333 \
  --assignee-principal-type ServicePrincipal --role "Azure Device Registry Contributor" --scope "$NS" -o json > ra.json
az role assignment list --scope "$NS" -o json > ras.json
""", data)
    assert result.returncode == 0, result.stdout + result.stderr
    created = json.loads((data / "ra.json").read_text())
    assert created["properties"]["roleDefinitionId"].endswith("a5c3590a-3a1a-4cd4-9648-ea0a32b15137")
    assert created["properties"]["principalId"] == "33333333-3333-3333-3333-333333333333"
    listed = json.loads((data / "ras.json").read_text())
    assert [(a["name"], a["roleDefinitionName"]) for a in listed] == [
        (created["name"], "Azure Device Registry Contributor")]


def test_az_cloud_with_a_trailing_slash_logs_in(az_session, tmp_path):
    """`--endpoint-resource-manager https://host:port/` (as Azure's own clouds write it) makes az call
    `//metadata/endpoints` and `//subscriptions`; login and ARM calls must still work."""
    az, _, data, emu = az_session
    lines = "\n".join([
        f"export AZURE_CONFIG_DIR={tmp_path / 'az-slash'}",
        "export AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_INSTANCE_DISCOVERY=false",
        f"export REQUESTS_CA_BUNDLE={data / 'tls' / 'ca.pem'}",
        f"az cloud register -n SlashCloud --endpoint-resource-manager {emu.https}/",
        "az cloud set -n SlashCloud",
        f"az login --service-principal -u adr-emulator -p adr-emulator --tenant {DEFAULT_TENANT} -o none",
    ])
    result = run_az_script(az, lines, "az group create -n slash-rg -l eastus -o none\n"
                                      "az group show -n slash-rg -o json", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["name"] == "slash-rg"
    endpoints = run_az_script(az, lines.split("\n")[0] + "\naz cloud show -n SlashCloud -o json", "", tmp_path)
    assert json.loads(endpoints.stdout)["endpoints"]["resourceManager"] == f"{emu.https}/"
