"""Grafana provisioning (packaging/grafana/provisioning): the data source and the dashboard
provider as Grafana reads them, and the dashboard, copied as documented, asking for a
data source of the provisioned one's type through its variable and for no other.
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
INSTALL_LINE = re.compile(
    r"install -D -m 0644 packaging/grafana/posdriver\.json\s*\\?\s*(/\S+\.json)"
)


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
    dashboard = json.loads(DASHBOARD.read_text())
    assert "__inputs" not in dashboard  # nothing to fill in: file provisioning can load it
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert source["type"] == variable["query"] == "prometheus"
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


def test_the_documented_copy_puts_the_dashboard_where_the_provider_loads_it() -> None:
    (provider,) = _load(PROVIDERS)["providers"]
    for where, text in (
        ("provider file", PROVIDERS.read_text()),
        ("install.md", INSTALL.read_text()),
    ):
        line = INSTALL_LINE.search(text.replace("#   ", "").replace("\n#", "\n"))
        assert line, f"{where}: no install line for the dashboard"
        assert Path(line[1]).parent == Path(provider["options"]["path"]), where
    dashboard = json.loads(DASHBOARD.read_text())
    variable = next(v["name"] for v in dashboard["templating"]["list"] if v["type"] == "datasource")
    assert _uids(dashboard) <= {f"${{{variable}}}", "-- Grafana --"}, _uids(dashboard)
