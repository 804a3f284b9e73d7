"""How the deploy commands draw: a plan, a deployed or upgraded box, outputs, the list, status."""

from __future__ import annotations

from typing import Any


def _compact(value: Any, nested: bool = False) -> str:
    """A value as short readable text: k=v pairs (description last), {..} when nested, [a, b]."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k == "description", k))
        text = " ".join(f"{k}={_compact(value[k], True)}" for k in keys)
        return f"{{{text}}}" if nested else text
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v, True) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("\n", "\\n")


def _short_value(value: Any, limit: int = 180) -> str:
    text = _compact(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _property_lines(value: Any, indent: str) -> list[str]:
    """A property as short lines: one per list item, so firewall rules read one per line."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [f"{indent}- {_short_value(item)}" for item in value]
    return [f"{indent}{_short_value(value)}"]


def print_plan(report: Any) -> None:
    """`deploy --plan`: each resource with its properties, the balancer and the monthly cost."""
    from rich.markup import escape

    from hybridctl.cli.output import console

    nodes = f"{report.nodes} node{'s' if report.nodes != 1 else ''}"
    console.print(
        f"[bold]Plan for {report.name}[/]: tier {report.tier} on {report.provider} "
        f"({report.instance_type} in {report.region}), {nodes}, {report.volume_gb} GB model volume "
        "each. Offline: nothing was created."
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    cloud = 0
    for row in report.resources:
        if row["component"]:
            console.print(f"  [bold]{row['type']}[/]  {row['name']}")
            continue
        cloud += 1
        console.print(f"  + [bold]{row['type']}[/]  {row['name']}")
        for key, value in row["properties"].items():
            lines = _property_lines(value, "        ")
            if len(lines) == 1:
                console.print(f"      {key}: {escape(lines[0].strip())}", soft_wrap=True)
            else:
                console.print(f"      {key}:")
                for line in lines:
                    console.print(escape(line), soft_wrap=True)
    console.print(f"{cloud} cloud resources would be created.")
    if report.load_balancer:
        console.print(f"Load balancer: {report.load_balancer}.")
    console.print(
        f"[bold]Monthly cost:[/] ${report.monthly_usd:,.2f} = "
        f"{report.nodes} x {report.instance_type} "
        f"at ${report.offer_monthly_usd:,.2f} (catalog: {escape(report.price_source)}); "
        f"not included: {report.not_included}."
    )


def print_deployed(record: Any, as_json: bool) -> None:
    """A finished deploy: its outputs (endpoint, CA, a request), then the pinned key and SSH."""
    from hybridctl.cli.output import console, print_json
    from hybridctl.providers.registry import is_local

    if as_json:
        print_json(record.model_dump())
        return
    console.print(
        f"[bold green]Deployed[/] {record.name}: tier {record.tier} on {record.provider}."
    )
    print_outputs(record.outputs)
    if is_local(record.provider):
        return
    from hybridctl.deploy.box.hostkeys import fingerprint

    rotated = sorted({fingerprint(key) for key in record.rotated_host_keys.values()})
    if rotated:
        console.print(
            f"Host key rotated on the box: {', '.join(rotated)} pinned in {record.known_hosts} "
            f"(the user data's key {record.host_key_fingerprint} no longer identifies it)"
        )
    else:
        console.print(f"Host key {record.host_key_fingerprint} pinned in {record.known_hosts}")
    ip = record.outputs.get("ip")
    user = record.outputs.get("ssh_user", "root")
    if ip:
        console.print(
            f"SSH: ssh -o UserKnownHostsFile={record.known_hosts} -o StrictHostKeyChecking=yes "
            f"{user}@{ip}"
        )


def print_outputs(outputs: dict[str, Any]) -> None:
    """Each output on one line (a path or the curl command must stay one line to copy)."""
    from rich.markup import escape

    from hybridctl.cli.output import console

    for key, value in outputs.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        console.print(f"  {key:<21} {escape(str(shown))}", soft_wrap=True)


def print_record_outputs(name: str, record: Any, outputs: dict[str, Any]) -> None:
    """`outputs NAME`: the outputs (with known_hosts), after a note when there are none yet."""
    from hybridctl.cli.output import console

    if not record.outputs:
        console.print(f"{name} has no outputs yet (status: {record.status}).")
    print_outputs(outputs)


def print_cancelled(name: str) -> None:
    from hybridctl.cli.output import console

    console.print(f"Released the lock on {name}; run the deploy again or --resume it.")


def print_destroyed(record: Any) -> None:
    from hybridctl.cli.output import console

    console.print(f"Destroyed {record.name} ({record.provider}, tier {record.tier}).")


def print_upgraded(result: Any) -> None:
    """A verified upgrade: the tier change, the state backup, and where the box answers."""
    from hybridctl.cli.output import console

    record = result.record
    console.print(
        f"[bold green]Upgraded[/] {record.name}: tier {result.previous_tier} -> {record.tier} "
        f"on {record.provider}, verified serving. State backup: {result.backup}"
    )
    for key in ("endpoint", "gateway_url", "ca_cert", "curl"):
        if key in record.outputs:
            console.print(f"  {key:<12} {record.outputs[key]}", soft_wrap=True, markup=False)


def print_deployments(found: list[Any]) -> None:
    """The `deployments` table: one row per saved deployment record (or how to make one)."""
    from rich.table import Table

    from hybridctl.cli.output import console

    if not found:
        console.print(
            "No deployments yet. Try one on this machine (Docker): hybridctl deploy --provider "
            "local --tier 1; plan a cloud one (hybridctl\\[deploy]): hybridctl deploy --tier 1 "
            "--provider hetzner --plan"
        )
        return
    table = Table()
    for column in (
        "name",
        "provider",
        "tier",
        "region",
        "nodes",
        "status",
        "ip",
        "$/month",
        "updated",
    ):
        table.add_column(column)
    for r in found:
        table.add_row(
            r.name,
            r.provider,
            r.tier,
            r.region,
            str(r.nodes),
            r.status,
            str(r.outputs.get("ip", "-")),
            f"{r.monthly_usd:,.2f}",
            r.updated,
        )
    console.print(table)


def print_status(result: dict[str, Any]) -> None:
    """`status NAME`: the saved record, its outputs, then what the live look found."""
    from hybridctl.catalog.deployments import DeploymentRecord
    from hybridctl.cli.output import console
    from hybridctl.providers.registry import is_local

    record = DeploymentRecord.model_validate(result["record"])
    where = (
        "this machine, Docker Compose"
        if is_local(record.provider)
        else f"{record.instance_type} x {record.nodes} in {record.region}"
    )
    console.print(
        f"[bold]{record.name}[/]: {record.status}; tier {record.tier} on {record.provider} "
        f"({where}); created {record.created}, updated {record.updated}; "
        f"${record.monthly_usd:,.2f}/month"
    )
    if record.last_error:
        console.print(f"  last error: {record.last_error}")
    if not is_local(record.provider):
        console.print(
            f"  host key {record.host_key_fingerprint} (known_hosts: {record.known_hosts})"
        )
    console.print(f"  backend {record.backend_url}")
    print_outputs(record.outputs)
    live = result["live"]
    for service, state in ((live or {}).get("services") or {}).items():
        health = f" ({state['health']})" if state["health"] else ""
        if state["state"] == "exited":
            health = f" ({state['exit_code']})"
        ports = f"  ports {', '.join(state['ports'])}" if state["ports"] else ""
        console.print(f"  service {service:<12} {state['state']}{health}{ports}")
    if live and live.get("last_update"):
        update = live["last_update"]
        console.print(
            f"  last Pulumi {update['kind']}: {update['result']} ({update['started']} - "
            f"{update['ended']})"
        )
    elif result["live_error"]:
        console.print(f"  [dim]{result['live_error']}[/]")
