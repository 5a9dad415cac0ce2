"""Grafana provisioning (packaging/grafana/provisioning): the data source and the dashboard
provider as Grafana reads them, and the dashboard, once its import placeholder is filled
as documented, pointing at exactly that data source.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "packaging" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "posdriver.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "posdriver.yaml"
DASHBOARD = GRAFANA / "posdriver.json"
INSTALL = ROOT / "docs" / "install.md"
# the command both the provider file and docs/install.md give
SED = re.compile(
    r"sed 's/\$\{DS_PROMETHEUS\}/([A-Za-z0-9_-]+)/g' packaging/grafana/posdriver\.json"
)
TARGET = re.compile(r"> (/\S+\.json)")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    assert data.get("apiVersion") == 1, path
    return data


def _no_interpolation(value: object, where: str) -> None:
    """Grafana expands $NAME and ${NAME} in provisioning files from its environment."""
    if isinstance(value, dict):
        for key, item in value.items():
            _no_interpolation(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_interpolation(item, f"{where}[{index}]")
    elif isinstance(value, str):
        assert "$" not in value, f"{where}: {value!r} would be taken from the environment"


def _datasource() -> dict[str, Any]:
    data = _load(DATASOURCES)
    _no_interpolation(data, DATASOURCES.name)
    (source,) = data["datasources"]
    return dict(source)


def test_datasource_is_the_prometheus_the_dashboard_asks_for() -> None:
    source = _datasource()
    inputs = json.loads(DASHBOARD.read_text())["__inputs"]
    (wanted,) = [i for i in inputs if i["name"] == "DS_PROMETHEUS"]
    assert source["type"] == wanted["pluginId"] == "prometheus"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", source["uid"]), source["uid"]
    assert source["access"] == "proxy"
    assert source["url"].startswith(("http://", "https://"))


def test_provider_loads_files_from_one_absolute_directory() -> None:
    data = _load(PROVIDERS)
    _no_interpolation(data, PROVIDERS.name)
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]).is_absolute()
    assert provider["allowUiUpdates"] is False


def _documented(text: str, where: str) -> tuple[str, str]:
    sed = SED.search(text)
    assert sed, f"{where}: no sed command filling ${{DS_PROMETHEUS}}"
    target = TARGET.search(text, sed.end())
    assert target, f"{where}: the sed command writes nowhere"
    return sed[1], target[1]


def _uids(node: object) -> set[str]:
    found = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and "uid" in source:
            found.add(source["uid"])
        for item in node.values():
            found |= _uids(item)
    elif isinstance(node, list):
        for item in node:
            found |= _uids(item)
    return found


def test_the_documented_command_makes_a_dashboard_on_the_provisioned_source() -> None:
    uid = _datasource()["uid"]
    (provider,) = _load(PROVIDERS)["providers"]
    for where, text in (
        ("provider file", PROVIDERS.read_text()),
        ("install.md", INSTALL.read_text()),
    ):
        used, target = _documented(text, where)
        assert used == uid, f"{where}: fills in {used}, the data source is {uid}"
        assert Path(target).parent == Path(provider["options"]["path"]), where
    filled = DASHBOARD.read_text().replace("${DS_PROMETHEUS}", uid)
    assert "${DS_" not in filled
    dashboard = json.loads(filled)
    assert _uids(dashboard) <= {uid, "-- Grafana --"}, _uids(dashboard)
    assert uid in _uids(dashboard)
