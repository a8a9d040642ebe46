"""The ``geoservice`` command.

Every subcommand has ``--help``; long work shows progress on a terminal and ends with one readable summary
line. Errors are one line on stderr (or one JSON object with ``--json``) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from .config import Settings
from .errors import GeoserviceError
from .policy import ROLES

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _store(ctx: click.Context, init: bool = True):
    from .store.db import Store

    if "store" not in ctx.obj:
        store = Store.from_settings(_settings(ctx))
        if init:
            store.init()
        ctx.obj["store"] = store
        ctx.call_on_close(store.engine.dispose)
    return ctx.obj["store"]


def handle_errors(as_json_param: str | None = None):
    """Turn geoservice errors and Ctrl-C into a one-line message and an exit code."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            as_json = bool(kwargs.get(as_json_param)) if as_json_param else False
            try:
                return fn(*args, **kwargs)
            except GeoserviceError as exc:
                _fail(str(exc), as_json, EXIT_ERROR)
            except OSError as exc:  # a file that cannot be read or written: say which and why, not a traceback
                where = f" {exc.filename}" if exc.filename else ""
                _fail(f"cannot use{where}: {exc.strerror or exc}; check the path exists and may be written",
                      as_json, EXIT_ERROR)
            except KeyboardInterrupt:
                _fail("interrupted: the batch was rolled back and nothing was written", as_json, EXIT_INTERRUPTED)

        return wrapper

    return decorate


def _fail(message: str, as_json: bool, code: int):
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message}))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


class _Progress:
    """Stage-by-stage progress on stderr when it is a terminal; silent otherwise (CI logs, --json pipes)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage == "write" and total > 1:
            if self._bar is None:
                self._bar = click.progressbar(length=total, label="write", file=sys.stderr)
                self._bar.__enter__()
            self._bar.update(done - self._bar.pos)
            return
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        if stage != "done":
            click.echo(f"{stage}…", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database", envvar="GEOSERVICE_DATABASE_URL", help="SQLAlchemy URL of the store "
              "(default: SQLite file under instance/).")
@click.option("--instance", envvar="GEOSERVICE_INSTANCE_PATH", type=click.Path(file_okay=False),
              help="Folder for the SQLite file, maps and other run-time files.")
@click.version_option(package_name="geoservice")
@click.pass_context
def main(ctx: click.Context, database: str | None, instance: str | None) -> None:
    """Places & Spaces: geospatial intelligence for contextual safeguarding."""
    ctx.ensure_object(dict)
    try:
        ctx.obj["settings"] = Settings.from_env(database_url=database, instance_path=instance)
    except GeoserviceError as exc:
        _fail(str(exc), False, EXIT_ERROR)


@main.command("init-db")
@click.option("--rebuild", is_flag=True, help="Drop every table first (deletes all data).")
@click.option("--upgrade", is_flag=True, help="Add the optional columns grown layer specs declare, keeping the data.")
@click.pass_context
@handle_errors()
def init_db(ctx: click.Context, rebuild: bool, upgrade: bool) -> None:
    """Create the store's tables (and PostGIS on PostgreSQL)."""
    store = _store(ctx, init=False)
    if rebuild:
        store.drop_all()
    if upgrade and not rebuild:
        added = store.upgrade()
        click.echo(f"added {len(added)} columns: {', '.join(added)}" if added else "nothing to add")
    store.init()
    click.echo(f"store ready: {len(store.layer_tables)} layer tables at {store.engine.url.render_as_string()}")


@main.command()
@click.argument("layer")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", help="csv, police-uk, osm-pois, geojson or gpkg (default: from the file).")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of a CSV file.")
@click.option("--postcodes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of postcode,latitude,longitude for rows located by postcode.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the batch report.")
@click.option("--why", help="Why this personal data is collected (the audit log's justification for person layers).")
@click.option("--synthetic/--real", default=None,
              help="Whether the file is synthetic (made by `geoservice synth`): products then say their people are "
                   "fictional. [default: synthetic when a ground_truth.json from `geoservice synth` lies beside it]")
@click.pass_context
@handle_errors("as_json")
def ingest(ctx, layer, path, fmt, encoding, postcodes, as_json, why, synthetic) -> None:
    """Validate PATH as LAYER and store it as one atomic batch.

    Every row ends accepted, rejected (kept in quarantine with its reasons: see `geoservice rejected`) or
    duplicate (already held). Re-ingesting a file adds nothing.
    """
    from .ingest.locate import PostcodeTable
    from .ingest.pipeline import ingest_file

    store = _store(ctx)
    table = PostcodeTable.from_csv(postcodes) if postcodes else None
    if synthetic is None:
        synthetic = (path.parent / "ground_truth.json").exists()
    report = ingest_file(store, layer, path, settings=_settings(ctx), fmt=fmt, encoding=encoding,
                         postcodes=table, progress=_Progress(not as_json), username=f"cli:{_os_user()}",
                         justification=why, synthetic=synthetic)
    if as_json:
        click.echo(json.dumps({"ok": True, **report.as_dict()}))
    else:
        click.echo(report.summary())


@main.command("bulk-ingest")
@click.argument("archive_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the partitioned GeoParquet (period=YYYY-MM/h3_res5=<cell>/), its quarantine and "
                   "manifests.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes reading and checking files at once (default: one per core). The result is the same "
                   "for any number.")
@click.pass_context
@handle_errors()
def bulk_ingest_command(ctx, archive_dir, out_dir, workers) -> None:
    """Load an unpacked data.police.uk archive (YYYY-MM/YYYY-MM-<force>-street.csv) into GeoParquet.

    Every file is checked by the same rules as `geoservice ingest incidents`; rejected rows go to a quarantine
    Parquet per file, and each file is recorded as a batch. Re-running adds nothing; a file that cannot be read
    is reported and the others still load (the command then exits with status 1).
    """
    from .ingest.bulk import bulk_ingest

    def show(done, total, result):
        click.echo(f"[{done}/{total}] {result.source}: {result.status} "
                   f"({result.accepted:,} accepted, {result.rejected:,} rejected, {result.duplicate:,} duplicate)",
                   err=True)

    report = bulk_ingest(_store(ctx), archive_dir, out_dir, settings=_settings(ctx), progress=show,
                         workers=workers or os.cpu_count() or 1)
    click.echo(report.summary())
    if any(f.status == "refused" for f in report.files):
        ctx.exit(1)


@main.command()
@click.argument("batch")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON array.")
@click.option("--limit", default=0, help="Show at most this many rows (0: all).")
@click.pass_context
@handle_errors("as_json")
def rejected(ctx, batch, as_json, limit) -> None:
    """List the quarantined rows of BATCH (a batch id or its first characters)."""
    store = _store(ctx)
    found = store.batch(batch)
    if found is None:
        raise GeoserviceError(f"no batch {batch!r}; `geoservice batches` lists them")
    rows = store.rejected_rows(found["batch_id"])
    shown = rows[:limit] if limit else rows
    if as_json:
        click.echo(json.dumps(shown, default=str))
        return
    for row in shown:
        click.echo(f"{row['source_name']} row {row['row_number']}: [{row['reason_code']}] {row['field']}: "
                   f"{row['message']}")
        for extra in row["issues"][1:]:
            click.echo(f"    also [{extra['code']}] {extra['field']}: {extra['message']}")
    click.echo(f"{len(rows):,} rejected rows in batch {found['batch_id'][:12]} ({found['layer']}, "
               f"{found['source_name']})" + (f"; {len(shown):,} shown" if limit and len(rows) > limit else ""))


@main.command()
@click.option("--layer", help="Only batches of this layer.")
@click.pass_context
@handle_errors()
def batches(ctx, layer) -> None:
    """List ingested batches with their counts."""
    store = _store(ctx)
    rows = store.list_batches(layer)
    for b in rows:
        click.echo(f"{b['batch_id'][:12]}  {b['started_at']:%Y-%m-%d %H:%M}  {b['layer']:<18} {b['source_name']:<40} "
                   f"in {b['rows_in']:>8,}  ok {b['accepted']:>8,}  rejected {b['rejected']:>6,}  "
                   f"duplicate {b['duplicate']:>8,}")
    click.echo(f"{len(rows)} batches")


@main.command()
@click.pass_context
@handle_errors()
def layers(ctx) -> None:
    """List the layers with their row and quarantine counts."""
    store = _store(ctx)
    counts, quarantined = store.layer_counts(), store.quarantine_counts()
    for name, spec in store.specs.items():
        click.echo(f"{name:<18} {spec.sensitivity:<9} {counts[name]:>9,} rows  {quarantined.get(name, 0):>7,} "
                   f"quarantined  {spec.title}")
    click.echo(f"{len(store.specs)} layers, {sum(counts.values()):,} rows")


@main.command()
@click.option("--borough", "boroughs", multiple=True, required=True, help="GSS code; repeat for several.")
@click.option("--res", default=9, show_default=True, help="H3 resolution (one of the stored ones, 7-10).")
@click.option("--k", default=1, show_default=True, help="Neighbourhood: the k-ring (1-3).")
@click.option("--from", "start", help="Start of the window (inclusive), e.g. 2025-01-01.")
@click.option("--to", "end", help="End of the window (exclusive).")
@click.option("--layer", help="Count one layer (default: the concern index of several).")
@click.option("--alpha", default=0.05, show_default=True, help="False discovery rate for hot and cold.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every cell's result (z, p, q, bin, counts) to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: settings and named areas.")
@click.option("--parquet", "parquet_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Count incidents from this bulk-ingest GeoParquet folder, not the database (pan-London scale).")
@click.pass_context
@handle_errors("as_json")
def hotspots(ctx, boroughs, res, k, start, end, layer, alpha, csv_path, as_json, parquet_dir) -> None:
    """Find Gi* hot spots and name the hot-spot areas (ward and nearby places)."""
    from .analysis.hotspot_areas import hotspot_report
    from .engine import get_engine

    with get_engine(_settings(ctx)) as engine:  # GEOSERVICE_ENGINE: where, never what
        cells, areas = hotspot_report(_store(ctx), boroughs=boroughs, res=res, k=k, start=start, end=end,
                                      layer=layer, alpha=alpha, engine=engine, parquet=parquet_dir)
    if csv_path:
        from .cells import to_hex

        out = cells.copy()
        out.index = to_hex(out.index)
        out.to_csv(csv_path, index_label="cell")
    settings = cells.attrs["settings"]
    if as_json:
        click.echo(json.dumps({"ok": True, "settings": settings, "areas": areas.to_dict(orient="records")},
                              default=str))
        return
    for area in areas.itertuples():
        click.echo(f"{area.area:>3}. {area.name}: {area.n_cells} cells, {area.value:,.0f} total, "
                   f"max z {area.max_z:.1f}, q {area.min_q:.2g}")
    click.echo(f"{settings['layer']}, res {res}, {settings['cells']:,} cells in {', '.join(boroughs)}: "
               f"{int(cells.hot.sum())} hot and {int(cells.cold.sum())} cold cells at FDR {alpha}; "
               f"{len(areas)} hot-spot areas ({settings['method']})")


@main.command()
@click.option("--intervention", "intervention_id", required=True, help="The intervention's id (interventions layer).")
@click.option("--months-before", default=12, show_default=True, type=click.IntRange(1, 120),
              help="Months before the start month to compare with.")
@click.option("--months-after", default=12, show_default=True, type=click.IntRange(1, 120),
              help="Months from the start month to evaluate (as far as the incidents go).")
@click.option("--ring", default=1, show_default=True, type=click.IntRange(0, 3),
              help="Rings of cells around each named place that count as its area.")
@click.option("--res", default=9, show_default=True, help="H3 resolution (one of the stored ones, 7-10).")
@click.option("--buffer", default=1, show_default=True, type=click.IntRange(0, 5),
              help="Rings of cells around the area left out of the comparison (displacement, diffusion).")
@click.option("--seed", default=0, show_default=True, help="Seed of the placebo areas' random choice.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report (HTML) here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the effect per type of incident.")
@click.pass_context
@handle_errors("as_json")
def evaluate(ctx, intervention_id, months_before, months_after, ring, res, buffer, seed, out, as_json) -> None:
    """Evaluate an intervention: incidents before and after, against comparison areas (docs/evaluation.md)."""
    import math

    from .analysis.interventions import evaluate_intervention

    store = _store(ctx)
    evaluation = evaluate_intervention(store, intervention_id, res=res, ring=ring, months_before=months_before,
                                       months_after=months_after, buffer=buffer, seed=seed)
    if out:
        from .attribution import attributions_for
        from .places import borough_names
        from .reports.evaluation import write_evaluation_html

        write_evaluation_html(evaluation, out, borough_names=borough_names(store),
                              attributions=attributions_for(store, ["incidents", "places", "boundaries"]))
    if as_json:
        def number(value):
            return None if value is None or math.isnan(value) else round(float(value), 4)

        click.echo(json.dumps({"ok": True, "intervention": intervention_id, "settings": evaluation.settings,
                               "months": evaluation.months, "cells": len(evaluation.treated), "effects": {
                                   name: {"effect": number(r.effect), "low": number(r.low), "high": number(r.high),
                                          "p": number(r.p), "before_after": number(r.before_after),
                                          "verdict": r.verdict, "placebos": r.placebos}
                                   for name, r in evaluation.effects.items()}, "report": str(out) if out else None}))
        return
    for name, result in evaluation.effects.items():
        click.echo(f"{name}: {result.verdict}")
    click.echo(f"{evaluation.record['title']} ({intervention_id}): {len(evaluation.treated)} cells, months "
               f"{evaluation.months[0] if evaluation.months else '-'} to "
               f"{evaluation.months[-1] if evaluation.months else '-'}" + (f"; report written to {out}" if out else ""))


@main.command(name="map")
@click.argument("spec")
@click.option("--borough", "boroughs", multiple=True, required=True, help="GSS code; repeat for several.")
@click.option("--from", "start", help="Start of a rolling window (inclusive). [default: from the spec]")
@click.option("--to", "end", help="End of a rolling window (exclusive). [default: after the latest record]")
@click.option("--period", help="The calendar year of a fixed-window map (youth_area), such as 2025. Only years that "
              "have ended. [default: the latest ended year with data]")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HTML file to write.")
@click.pass_context
@handle_errors()
def map_command(ctx, spec, boroughs, start, end, period, out) -> None:
    """Render a map product (a spec name in maps/, or a path to a spec) as one offline HTML page."""
    from .maps.products import build_map
    from .maps.render import write_map
    from .maps.specs import load_map_spec, load_map_specs

    settings = _settings(ctx)
    if spec.endswith(".toml"):
        chosen = load_map_spec(spec, layer_specs=_store(ctx).specs)
    else:
        specs = load_map_specs(settings.maps_dir, layer_specs=_store(ctx).specs)
        if spec not in specs:
            raise GeoserviceError(f"no map spec called {spec!r} in {settings.maps_dir}; "
                                  f"known: {', '.join(sorted(specs))}")
        chosen = specs[spec]
    step = _Progress(True)
    built = build_map(_store(ctx), chosen, boroughs=boroughs, start=start, end=end, period=period,
                      tile_url=settings.map_tile_url, progress=lambda done, total, what: step(
                          "done" if done == total else f"layer {done + 1} of {total}: {what}", done, total))
    path = write_map(built, out)
    click.echo(f"{chosen.name} for {built.config['area']}, {built.config['period']}: {built.expected_hexes:,} hexes "
               f"shown, {len(built.config['layers'])} layers, {path.stat().st_size / 1e6:.2f} MB; wrote {path}")


@main.command()
@click.option("--borough", required=True, help="GSS code of the home borough, e.g. E09000024 (Merton).")
@click.option("--from", "start", required=True, help="Start of the period (inclusive), e.g. 2025-01-01.")
@click.option("--to", "end", required=True, help="End of the period (exclusive).")
@click.option("--since", help="Date of the last panel: later items are marked new. [default: 28 days before --to]")
@click.option("--as-of", help="Links expired before this day are left out. [default: today]")
@click.option("--share-with", help="GSS code of a neighbour borough: write the minimised, pseudonymous version.")
@click.option("--format", "fmt", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="File to write (a folder for --format csv).")
@click.option("--why", required=True, help="Why (the panel, the case): recorded in the audit log.")
@click.pass_context
@handle_errors()
def linkage(ctx, borough, start, end, since, as_of, share_with, fmt, out, why) -> None:
    """Cross-borough linkage report for a MACE panel (or, with --share-with, for a neighbour borough).

    Making it is a combination of personal data, and sharing it a disclosure: both go in the audit log."""
    from .pseudonyms import pseudonym_key
    from .reports.linkage import audited_linkage, write_linkage

    report = audited_linkage(_store(ctx), borough, start=start, end=end, as_of=as_of, since=since,
                             share_with=share_with, username=f"cli:{_os_user()}", justification=why,
                             key=pseudonym_key(_settings(ctx)))
    path = write_linkage(report, out, fmt)
    counts = {name: len(report.tables[name]) for name in ("children_elsewhere", "cross_borough_groups",
                                                           "adults_elsewhere", "cross_borough_links",
                                                           "county_lines", "new_since")}
    click.echo(f"{report.about['borough_name']} {report.about['from']} to {report.about['to']}"
               + (f", minimised for {report.about['shared_with_name']}" if share_with else "") + ": "
               + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()) + f"; wrote {path}")


def _consulted(ctx, what: str, people, why: str) -> None:
    """Person-level answers on the command line are audited like the service's (a consultation with the reason)."""
    from .privacy.audit import person_refs, record
    from .pseudonyms import pseudonym_key

    record(_store(ctx), username=f"cli:{_os_user()}", operation="consultation", justification=why,
           objects=[what, *person_refs(pseudonym_key(_settings(ctx)), sorted(people))])


_WHY = click.option("--why", required=True, help="Why (the panel, the case): recorded in the audit log.")
_AS_OF = click.option("--as-of", help="Links expired before this day are left out. [default: today]")


@main.command()
@click.option("--borough", required=True, help="GSS code, e.g. E09000024 (Merton).")
@click.option("--since", help="Date of the last panel: later links and members are marked new.")
@_AS_OF
@_WHY
@click.pass_context
@handle_errors()
def groups(ctx, borough, since, as_of, why) -> None:
    """Peer groups with a child of the borough, by their stable ids (adults who pose risk in their own column)."""
    from .network.build import graph_from_evidence
    from .reports.casework import peer_group_list

    store = _store(ctx)
    listing = peer_group_list(store, graph_from_evidence(store, as_of=as_of), borough, since=since)
    _consulted(ctx, f"cli:groups:{borough}", listing["people"], why)
    for g in listing["groups"]:
        click.echo(f"{g['group']}  {g['size']:>2} children: {', '.join(g['children'])}  |  adults who pose risk "
                   f"linked: {', '.join(g['adults']) or '-'}  |  {', '.join(g['boroughs'])}  |  "
                   f"places: {'; '.join(g['places']) or '-'}  |  {g['id_note']}")
    click.echo(f"{len(listing['groups'])} groups")


@main.command()
@click.argument("person_id")
@click.option("--hops", type=click.IntRange(1, 2), default=2, show_default=True)
@_AS_OF
@_WHY
@click.pass_context
@handle_errors()
def child(ctx, person_id, hops, as_of, why) -> None:
    """One child: network, escalation and places (the workbench's child page, as text)."""
    from .network.build import graph_from_evidence
    from .reports.casework import child_view

    store = _store(ctx)
    view = child_view(store, graph_from_evidence(store, as_of=as_of), person_id, hops=hops, as_of=as_of)
    _consulted(ctx, "cli:child", view["people"], why)
    click.echo(f"{person_id}: a child at risk ({view['home_borough']})")
    click.echo("escalation: " + ("; ".join(view["escalation"]) or "none flagged by the rules"))
    click.echo(f"within {hops} links: children {', '.join(view['children']) or '-'}; adults who pose risk "
               f"{', '.join(view['adults']) or '-'}")
    for r in view["child_evidence"] + view["adult_evidence"]:
        click.echo(f"  {r['child']} - {r['other']}: {r['type']} ({r['source']} {r['record']}, {r['date']}, "
                   f"{r['grade']}, expires {r['expires']})")
    click.echo("places: " + ("; ".join(f"{p['name'] or p['cell']} ({p['borough']}, {p['visits']})"
                                        for p in view["places"]) or "-"))
    click.echo("other boroughs: " + (", ".join(view["other_boroughs"]) or "-"))


@main.command()
@click.argument("person_id")
@_AS_OF
@_WHY
@click.pass_context
@handle_errors()
def timeline(ctx, person_id, as_of, why) -> None:
    """One child's timeline: missing episodes, incidents the evidence names, and new links, newest first."""
    from .network.build import graph_from_evidence
    from .reports.casework import child_view

    store = _store(ctx)
    view = child_view(store, graph_from_evidence(store, as_of=as_of), person_id, hops=1, as_of=as_of)
    _consulted(ctx, "cli:timeline", [person_id], why)
    for r in view["timeline"]:
        click.echo(f"{r['date']}  {r['kind']:<8} {r['what']}" + (f"  [{r['risk']}]" if r["risk"] else "")
                   + f"  {r['record']}")


@main.command()
@click.option("--borough", required=True, help="GSS code of the borough whose people are exported.")
@click.option("--group", help="Export one peer group (e.g. G0006): its children and the adults linked to them.")
@click.option("--child", "child_id", help="Export one child's network (see --hops).")
@click.option("--hops", type=click.IntRange(1, 2), default=2, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["graphml", "gexf", "i2"]), required=True,
              help="graphml or gexf (Gephi, yEd), or i2 (a zip of entities.csv and links.csv for i2's import).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="File to write.")
@click.option("--recipient", required=True, help="Who the file is for (recorded as the disclosure's recipient).")
@_AS_OF
@_WHY
@click.pass_context
@handle_errors()
def export(ctx, borough, group, child_id, hops, fmt, out, recipient, as_of, why) -> None:
    """Export a peer group, a child's network or a borough's network with every link's evidence. The file leaves
    the service, so it is recorded in the audit log as a disclosure to the recipient."""
    from .network.build import graph_from_evidence
    from .network.export import write_export
    from .privacy.audit import person_refs, record
    from .pseudonyms import pseudonym_key
    from .reports.casework import network_to_export

    store = _store(ctx)
    graph, name = network_to_export(store, graph_from_evidence(store, as_of=as_of), borough=borough, group=group,
                                    child=child_id, hops=hops)
    record(store, username=f"cli:{_os_user()}", operation="disclosure", justification=why, recipient=recipient,
           objects=[f"network export:{name}:{fmt}", *person_refs(pseudonym_key(_settings(ctx)), sorted(graph))])
    path = write_export(graph, fmt, out)
    click.echo(f"{name}: {graph.number_of_nodes()} people, {graph.number_of_edges()} links as {fmt}; wrote {path}")


@main.group()
def pack() -> None:
    """MACE meeting packs for a borough and the period since the last panel (HTML or PDF by the file's extension)."""


def _pack_options(command):
    for option in reversed([
        click.option("--borough", required=True, help="GSS code of the borough, e.g. E09000024 (Merton)."),
        click.option("--since", required=True, help="Date of the last panel: the period starts here (inclusive)."),
        click.option("--to", "end", required=True, help="End of the period (exclusive), e.g. the panel's date."),
        click.option("--out", required=True, type=click.Path(path_type=Path),
                     help="File to write: .html (one offline page) or .pdf (A4)."),
        click.option("--for", "recipient", help="Who the pack is for (printed in every page's footer)."),
        click.option("--as-of", help="Links expired before this day are left out. [default: --to]"),
    ]):
        command = option(command)
    return command


@pack.command("strategic")
@_pack_options
@click.option("--previous", type=click.IntRange(0, 12), default=3, show_default=True,
              help="How many earlier periods of the same length to show beside this one.")
@click.pass_context
@handle_errors()
def pack_strategic(ctx, borough, since, end, out, recipient, as_of, previous) -> None:
    """The Strategic MACE pack: seven themes, aggregate only (no person named, small counts suppressed)."""
    from .reports.packs import pack_format, strategic_pack, write_pack

    pack_format(out)
    _Progress(True)(f"making the Strategic MACE pack for {borough} (themes, figures, maps)", 0, 1)
    made = strategic_pack(_store(ctx), borough, since=since, to=end, as_of=as_of, previous=previous,
                          made_by=f"cli:{_os_user()}", recipient=recipient or "Strategic MACE panel")
    path = write_pack(made, out)
    empty = [s.title for s in made.sections if s.empty]
    click.echo(f"{made.title}: {len(made.sections)} themes"
               + (f" ({', '.join(empty)}: no data this period)" if empty else "") + f"; wrote {path}")


@pack.command("pre-mace")
@_pack_options
@click.option("--why", required=True, help="Why (the panel, the case): recorded in the audit log.")
@click.pass_context
@handle_errors()
def pack_pre_mace(ctx, borough, since, end, out, recipient, as_of, why) -> None:
    """The Pre-MACE pack: the children for discussion, each with network, timeline and places; adults who pose
    risk apart; peer groups; actions. Making it is a combination of personal data, recorded in the audit log."""
    from .pseudonyms import pseudonym_key
    from .reports.packs import audited_pre_mace, pack_format, write_pack

    pack_format(out)
    _Progress(True)(f"making the Pre-MACE pack for {borough} (children, networks, timelines, places)", 0, 1)
    made = audited_pre_mace(_store(ctx), borough, since=since, to=end, as_of=as_of, username=f"cli:{_os_user()}",
                            justification=why, key=pseudonym_key(_settings(ctx)),
                            recipient=recipient or "Pre-MACE panel")
    path = write_pack(made, out)
    click.echo(f"{made.title}: {len(made.about['children'])} children for discussion, "
               f"{len(made.about['adults'])} adults who pose risk linked; wrote {path}")


@main.command("missing-panel")
@click.option("--borough", required=True, help="GSS code of the borough, e.g. E09000024 (Merton).")
@click.option("--since", required=True, help="Date of the last panel: episodes reported from here (inclusive).")
@click.option("--to", "end", required=True, help="End of the period (exclusive), e.g. the panel's date.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="File to write: .html (one offline page) or .pdf (A4).")
@click.option("--why", help="Why (the panel): recorded in the audit log. [default: 'weekly missing children panel', "
                            "the borough and the period]")
@click.option("--for", "recipient", help="Who the pack is for (printed in every page's footer).")
@click.option("--agenda", default="red,amber", show_default=True,
              help="The grades on the agenda, comma-separated (red, amber, green).")
@click.option("--repeat-days", type=click.IntRange(1, 366),
              help="Rolling window for repeat missing, in days. [default: the repeat_missing_days setting]")
@click.option("--repeat-episodes", type=click.IntRange(2, 50),
              help="Episodes within the window that make a child repeat missing. "
                   "[default: the repeat_missing_episodes setting]")
@click.option("--final", is_flag=True,
              help="The final agenda: refuse while any episode is ungraded (naming them) or the records stop short.")
@click.pass_context
@handle_errors()
def missing_panel_command(ctx, borough, since, end, out, why, recipient, agenda, repeat_days, repeat_episodes,
                          final) -> None:
    """The weekly missing children panel: the grading queue and agenda, return home interview measures with the
    episodes behind them, completeness, repeat missing, placements out of borough, where children were found and
    county-lines indicators. Person-level: making it is recorded in the audit log."""
    from .panels.missing import MissingPanelError, audited_missing_panel
    from .pseudonyms import pseudonym_key
    from .reports.packs import pack_format, write_pack

    pack_format(out)
    settings = _settings(ctx)
    options = {"agenda_grades": tuple(g.strip() for g in agenda.split(",") if g.strip()),
               "repeat_days": repeat_days or settings.repeat_missing_days,
               "repeat_episodes": repeat_episodes or settings.repeat_missing_episodes}
    why = why or f"weekly missing children panel, {borough}, {since} to {end}"  # the command's own purpose
    made = audited_missing_panel(_store(ctx), borough, since=since, to=end, username=f"cli:{_os_user()}",
                                 justification=why, key=pseudonym_key(settings),
                                 recipient=recipient or "Missing children panel", **options)
    if final and not made.about["can_finalise"]:
        raise MissingPanelError(f"the agenda cannot be finalised: {made.about['not_final']}")
    path = write_pack(made, out)
    state = ("final" if made.about["can_finalise"]
             else f"DRAFT, the agenda cannot be finalised: {made.about['not_final']}")
    click.echo(f"{made.title}: {len(made.about['children'])} children in the last 12 months; {state}; wrote {path}")


@main.command("risk")
@click.option("--borough", required=True, help="GSS code of the borough, e.g. E09000024 (Merton).")
@click.option("--as-of", help="The day to judge on, YYYY-MM-DD. [default: as the page: today, or the last "
                               "assessment's day when the records end earlier]")
@click.option("--review-days", type=click.IntRange(1, 730),
              help="Days a risk matrix may go without a new score. [default: the risk_review_days setting]")
@_WHY
@click.pass_context
@handle_errors()
def risk_command(ctx, borough, as_of, review_days, why) -> None:
    """Risk-matrix tracking: each child of the borough with a score, their band and flags (not reviewed, not
    re-scored since the worker changed, not shared, band rose, MASH and police differ). Audited."""
    from datetime import date

    from .panels.risk import RiskError, default_day, risk_tracking

    try:
        day = date.fromisoformat(as_of) if as_of else default_day(_store(ctx))
    except ValueError:
        raise RiskError(f"--as-of must be a date, YYYY-MM-DD; got {as_of!r}") from None
    view = risk_tracking(_store(ctx), borough, as_of=day, review_days=review_days)
    _consulted(ctx, f"cli:risk:{borough}", view["people"], why)
    words = lambda value: (value or "-").replace("_", " ")  # noqa: E731 (plain words, as the page shows them)
    for row in view["children"]:
        click.echo(f"{row['person_id']}  {row['score']:>4} {row['band']:<24} scored {row['assessed_on']:%Y-%m-%d}  "
                   f"police {words(row['police_grade'])} / MASH {words(row['mash_outcome'])}  |  "
                   f"{'; '.join(row['reasons']) or 'no flag'}")
    flagged = sum(1 for row in view["children"] if row["reasons"])
    click.echo(f"{len(view['children'])} children with a risk matrix on {view['as_of']}, {flagged} flagged; bands: "
               + "; ".join(map(str, view["bands"])))


@main.group("risk-bands", invoke_without_command=True)
@click.pass_context
@handle_errors()
def risk_bands(ctx) -> None:
    """The risk matrix's bands, shown (scores outside every band read "unbanded - configure"); an administrator
    changes them with `risk-bands set` or `risk-bands reset`, recorded in the audit log."""
    from .panels.risk import configured_bands

    if ctx.invoked_subcommand is None:
        store = _store(ctx)
        rows = {r["low"]: r for r in store.risk_band_rows()}
        for item in configured_bands(store):
            row = rows.get(item.low)
            click.echo(f"{item.low:>4}-{item.high:<4} {item.label}"
                       + (f"  (set by {row['set_by']} {row['set_at']:%Y-%m-%d})" if row else "  (preloaded)"))


_ADMIN_AS = click.option("--as", "account", required=True,
                         help="The administrator's account (geoservice user add NAME --role admin) the change is made "
                              "as; other roles are refused.")


def _account(ctx, username: str):
    from .privacy.users import get_user

    found = get_user(_store(ctx), username)
    if found is None:
        raise GeoserviceError(f"no user {username!r}: give an administrator's account (`geoservice user add NAME "
                              "--role admin --borough E09000024`)")
    return found


@risk_bands.command("set")
@click.option("--band", "bands", multiple=True, required=True,
              help='A band as LOW-HIGH=LABEL, e.g. "10-32=Early Help (Emerging)"; repeat for each band.')
@_ADMIN_AS
@click.option("--why", required=True, help="Why the bands change (recorded in the audit log).")
@click.pass_context
@handle_errors()
def risk_bands_set(ctx, bands, account, why) -> None:
    """Replace the bands (they must not overlap). Only an administrator may; audited as an alteration."""
    from .panels.risk import set_bands

    made = set_bands(_store(ctx), bands, user=_account(ctx, account), justification=why)
    click.echo("risk bands now: " + "; ".join(map(str, made)))


@risk_bands.command("reset")
@_ADMIN_AS
@click.option("--why", required=True, help="Why the bands go back to the preloaded ones (recorded in the audit log).")
@click.pass_context
@handle_errors()
def risk_bands_reset(ctx, account, why) -> None:
    """Back to the preloaded bands (10-32 Early Help (Emerging), 33-64 Targeted (Moderate)); audited."""
    from .panels.risk import set_bands

    made = set_bands(_store(ctx), None, user=_account(ctx, account), justification=why)
    click.echo("risk bands now the preloaded ones: " + "; ".join(map(str, made)))
@main.command("disproportionality")
@click.option("--borough", required=True, help="GSS code of the borough, e.g. E09000024 (Merton).")
@click.option("--since", required=True, help="Start of the window, YYYY-MM-DD (inclusive).")
@click.option("--to", "end", required=True, help="End of the window, YYYY-MM-DD (exclusive); it must have passed.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every table (as shown: suppressed and rounded) to this CSV file.")
@click.option("--stop-search", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A police.uk stop-and-search CSV: its under-18 records by ethnicity and sex against the baseline "
                   "(only when the file has the demographic columns; nothing is guessed).")
@click.pass_context
@handle_errors()
def disproportionality(ctx, borough, since, end, csv_path, stop_search) -> None:
    """Shares of the MACE, missing, arrested-or-searched and in-care cohorts by ethnicity, sex and age against the
    borough's under-18 baseline, with relative rates and 95% intervals; small counts suppressed. Aggregate only:
    children recorded as suspects with no referral are counted here and listed on the workbench page."""
    from .panels.disproportionality import StopSearchDemographicsMissing, from_store, stop_search_under_18
    from .safe_text import for_spreadsheet

    store = _store(ctx)
    made = from_store(store, borough, since=since, to=end, days=_settings(ctx).suspect_referral_days)
    result = made["result"]
    tables = [(t.title, list(t.columns), t.rows, t.total) for t in result.tables]
    if stop_search:
        try:
            baseline = store.read_layer("population_baseline", ["borough", "dimension", "category", "children"],
                                        equals={"borough": borough})
            searched = stop_search_under_18(stop_search, baseline=baseline)
            for table in searched["tables"].values():
                tables.append((table["title"], ["group", "records", *list(result.tables[0].columns)[2:]],
                               table["rows"], table["total"]))
            click.echo(f"{stop_search.name}: {searched['under_18']} under-18 records of {searched['records']}. "
                       + searched["note"])
        except StopSearchDemographicsMissing as exc:
            click.echo(str(exc))
    for title, columns, rows, total in tables:
        click.echo(f"\n{title}\n  " + " | ".join(columns))
        for row in rows:
            click.echo("  " + " | ".join(row))
        click.echo(f"  all in the cohort: {total}")
    for note in result.notes:
        click.echo(f"\n{note}")
    flagged = len(made["children"])
    click.echo(f"\nChildren recorded as a suspect with no safeguarding referral within {made['days']} days: "
               f"{flagged} (children to protect; listed on the workbench's disproportionality page)")
    if csv_path:
        import csv

        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["table", "group", "count", "share", "baseline", "baseline share", "relative rate",
                             "95% interval"])
            for title, _columns, rows, total in tables:
                for row in rows:
                    writer.writerow([for_spreadsheet(v) for v in (title, *row)])
                writer.writerow([for_spreadsheet(v) for v in (title, "all in the cohort", total, "", "", "", "", "")])
        click.echo(f"wrote {csv_path}")


@main.group()
def user() -> None:
    """Users of the service: their roles and boroughs."""


@user.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(ROLES),
              help="Repeat for several.")
@click.option("--borough", "boroughs", multiple=True, required=True, help="GSS code the user may see; repeat.")
@click.option("--password-env", help="Read the password from this environment variable instead of asking.")
@click.pass_context
@handle_errors()
def user_add(ctx, username, roles, boroughs, password_env) -> None:
    """Add a user (the password is asked for twice, never shown, and stored only as a scrypt hash)."""
    from .privacy.users import add_user

    added = add_user(_store(ctx), username, _new_password(password_env), roles=roles, boroughs=boroughs)
    click.echo(f"added {added.username}: {', '.join(sorted(added.roles))} in {', '.join(added.boroughs)}")


@user.command("password")
@click.argument("username")
@click.option("--password-env", help="Read the new password from this environment variable instead of asking.")
@click.pass_context
@handle_errors()
def user_password(ctx, username, password_env) -> None:
    """Give a user a new password; every session of theirs ends at once."""
    from .privacy.users import set_password

    set_password(_store(ctx), username, _new_password(password_env))
    click.echo(f"{username}: new password set; their sessions have ended")


def _switch_user(disabled: bool, done: str, help_text: str):
    """``user disable`` and ``user enable``: one command each, one way of doing it."""

    @click.argument("username")
    @click.pass_context
    @handle_errors()
    def command(ctx, username) -> None:
        from .privacy.users import set_disabled

        set_disabled(_store(ctx), username, disabled)
        click.echo(f"{username}: {done}")

    command.__doc__ = help_text
    return command


user.command("disable")(_switch_user(True, "disabled; their sessions have ended",
                                     "Disable a user: they cannot sign in, and every session of theirs ends at once."))
user.command("enable")(_switch_user(False, "enabled", "Let a disabled user sign in again."))


def _new_password(password_env: str | None) -> str:
    import os

    if password_env:
        password = os.environ.get(password_env) or ""
        if not password:
            raise GeoserviceError(f"environment variable {password_env} is empty or not set")
        return password
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@main.group()
def audit() -> None:
    """The audit log of personal data: check it, read it."""


@audit.command("verify")
@click.pass_context
@handle_errors()
def audit_verify(ctx) -> None:
    """Check the log against its key and its anchor file: each changed, removed or cut entry, and each problem
    with the anchor, is named (exit 1)."""
    from .privacy.audit import printable, verify

    result = verify(_store(ctx))
    for problem in result.problems:
        click.echo(f"problem: {printable(problem)}", err=True)
    for note in result.notes:
        click.echo(f"note: {printable(note)}", err=True)
    click.echo(f"audit log: {result.entries:,} entries, " + ("intact" if result.ok else
                                                              f"{len(result.problems)} problems"))
    ctx.exit(0 if result.ok else 1)


@audit.command("list")
@click.option("--operation", help="Only this operation (collection, consultation, disclosure, ...).")
@click.option("--user", help="Only this user's events.")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
@handle_errors()
def audit_list(ctx, operation, user, limit) -> None:
    """The latest audit events, newest first. Control characters are shown as escapes (ESC as \\x1b)."""
    from .privacy.audit import events, printable

    for e in events(_store(ctx), operation=operation, username=user, limit=limit):
        recipient = f" to {printable(e['recipient'])}" if e["recipient"] else ""
        click.echo(f"{e['seq']:>7} {e['at']:%Y-%m-%d %H:%M:%S} {printable(e['username']):<12} "
                   f"{printable(e['operation']):<12}{recipient} {printable(e['objects'])} — "
                   f"{printable(e['justification'])}")


@main.group()
def publications() -> None:
    """Aggregate numbers as first published (the youth map): list them, or withdraw a period's to correct it."""


@publications.command("list")
@click.pass_context
@handle_errors()
def publications_list(ctx) -> None:
    """Each published period and product: how many cells, and when first published."""
    rows = _store(ctx).publications()
    for row in rows:
        click.echo(f"{row['period']}  {row['product']}  {row['cells']:>6,} cells  first published "
                   f"{row['published_at']:%Y-%m-%d %H:%M} UTC")
    click.echo(f"{len(rows)} published period and product pairs")


@publications.command("withdraw")
@click.argument("period")
@click.option("--why", required=True, help="Why the published numbers must be withdrawn (recorded in the audit log).")
@click.pass_context
@handle_errors()
def publications_withdraw(ctx, period, why) -> None:
    """Withdraw the numbers published for PERIOD (as `publications list` shows it, e.g. 2025-01-01..2026-01-01),
    so the next view counts again: for a correction, such as a year opened before its records were loaded.
    Two views of a period, before and after, can be differenced: withdraw only when the change is large."""
    from .privacy.audit import record

    store = _store(ctx)
    with store.writing() as conn:
        withdrawn = store.withdraw_publications(conn, period)
        if not withdrawn:
            raise GeoserviceError(f"nothing is published for {period!r}; `geoservice publications list` shows "
                                  "what is")
        record(store, username=f"cli:{_os_user()}", operation="alteration", objects=[f"publications:{period}"],
               justification=why, conn=conn)
    click.echo(f"withdrew {withdrawn:,} published cells of {period}")


@main.group()
def retention() -> None:
    """Erase records past their review date."""


@retention.command("run")
@click.option("--today", help="Review as of this day (default: today).")
@click.pass_context
@handle_errors()
def retention_run(ctx, today) -> None:
    """Erase every record past its review date, and everything about removed people, in one transaction."""
    from datetime import date

    from .privacy.retention import run_retention

    report = run_retention(_store(ctx), today=date.fromisoformat(today) if today else None,
                           username=f"cli:{_os_user()}")
    detail = ", ".join(f"{table} {n:,}" for table, n in sorted(report.removed.items())) or "nothing was due"
    click.echo(f"retention as of {report.today}: {report.total:,} rows erased ({detail})"
               + (f"; audit entry {report.audit_seq}" if report.audit_seq else ""))


@retention.command("extend")
@click.argument("layer")
@click.argument("record")
@click.option("--until", required=True, help="The new review date, YYYY-MM-DD.")
@click.option("--why", required=True, help="Why the record is kept longer (recorded in the audit log).")
@click.pass_context
@handle_errors()
def retention_extend(ctx, layer, record, until, why) -> None:
    """Move the review date of one RECORD (its key, e.g. a person_id) of LAYER; audited as an alteration."""
    from datetime import date

    from .privacy.retention import extend_review
    from .pseudonyms import pseudonym_key

    changed = extend_review(_store(ctx), layer, record, date.fromisoformat(until), username=f"cli:{_os_user()}",
                            justification=why, key=pseudonym_key(_settings(ctx)))
    click.echo(f"{layer} {record}: review date now {until} ({changed} row{'s' if changed != 1 else ''})")


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@main.command()
@click.option("--seed", default=1, show_default=True, help="Same seed, same world.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the layer files and ground_truth.json into.")
@click.option("--year", default=2025, show_default=True, help="Calendar year the world's events fall in.")
@click.pass_context
@handle_errors()
def synth(ctx, seed, out_dir, year) -> None:
    """Write a seeded synthetic safeguarding world on the real geography, with its ground truth."""
    from .synth.world import write_world

    summary = write_world(out_dir, seed=seed, year=year, data_dir=_settings(ctx).data_dir)
    click.echo(summary)


def _server_options(command):
    """--host, --port, --workers and --threads, shared by ``serve`` and ``demo``."""
    from .server import default_workers

    for option in reversed([
        click.option("--host", default="127.0.0.1", show_default=True),
        click.option("--port", default=5000, show_default=True),
        click.option("--workers", default=default_workers(), show_default=True, type=click.IntRange(1, 64),
                     help="Worker processes (gunicorn)."),
        click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
                     help="Threads per worker."),
    ]):
        command = option(command)
    return command


@main.command()
@click.option("--seed", default=1, show_default=True, help="Seed of the synthetic world.")
@click.option("--serve/--no-serve", default=True, help="Serve the app when the database is built.")
@_server_options
@click.pass_context
@handle_errors()
def demo(ctx, seed, serve, host, port, workers, threads) -> None:
    """Build the demo database (real data + synthetic world) and serve it at http://HOST:PORT."""
    from .demo import build_demo
    from .server import serve as run_server

    settings = _settings(ctx)
    build_demo(settings, seed=seed, echo=click.echo).engine.dispose()
    if serve:
        run_server(settings, host=host, port=port, workers=workers, threads=threads, echo=click.echo)


@main.command()
@_server_options
@click.pass_context
@handle_errors()
def serve(ctx, host, port, workers, threads) -> None:
    """Serve the web app over the configured store with a production WSGI server (gunicorn)."""
    from .server import serve as run_server

    run_server(_settings(ctx), host=host, port=port, workers=workers, threads=threads, echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    main()
