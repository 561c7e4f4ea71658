"""otel-service: create, update and check services rendered from this template.

A thin layer over Copier's public API (run_copy, run_update): copier asks the questions;
this adds presets, strict answer checks before copier runs, conflict detection after an
update (copier exits 0 on conflicts) and a drift check.
"""

from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import copier
from copier.errors import CopierError, DirtyLocalWarning

from generator import presets, questions, template_source
from generator.copier_extension import dns_label
from generator.errors import CliError, describe_os_error
from generator.project import (
    ANSWERS_FILE,
    find_conflicts,
    git,
    project_directory,
    read_answers,
    require_clean_git_tree,
    resolved,
)

PROG = "otel-service"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except CliError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    except (CopierError, ValueError) as error:
        # Copier's validators refuse with ValueError; their messages name the answer and fix.
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        # A path that is a file, unreadable, or gone while copier works in it.
        print(f"{PROG}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    new = commands.add_parser("new", help="render a new service")
    new.add_argument("dest", type=Path, help="directory to create")
    new.add_argument("--preset", help=f"built-in ({', '.join(presets.builtin_presets())}) or file")
    _data_argument(new)
    new.add_argument("--vcs-ref", help="template tag to render (default: the latest tag)")
    new.add_argument("--template", help="template path or git URL (default: this checkout)")
    new.add_argument("--defaults", action="store_true", help="ask nothing: defaults elsewhere")
    new.add_argument("--no-git", action="store_true", help="skip git init and the first commit")
    new.set_defaults(command=cmd_new)

    update = commands.add_parser("update", help="update a service to a newer template version")
    update.add_argument("project", type=Path, nargs="?", default=Path("."))
    _data_argument(update)
    update.add_argument("--vcs-ref", help="template tag to update to (default: the latest tag)")
    update.add_argument("--defaults", action="store_true", help="keep answers, ask nothing")
    update.set_defaults(command=cmd_update)

    doctor = commands.add_parser("doctor", help="check a service's template link and drift")
    doctor.add_argument("project", type=Path, nargs="?", default=Path("."))
    doctor.add_argument("--strict", action="store_true", help="also fail when outdated or drifted")
    doctor.set_defaults(command=cmd_doctor)

    options = commands.add_parser("options", help="list every prompt (docs/options.md)")
    options.add_argument("--format", choices=["text", "markdown"], default="text")
    options.add_argument("--template", help="template path or git URL (default: this checkout)")
    options.add_argument("--vcs-ref", help="template version (default: the working tree)")
    options.set_defaults(command=cmd_options)
    return parser


def _data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an answer (repeatable); lists as a,b",
    )


def _interactive(args: argparse.Namespace) -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty() and not args.defaults


def cmd_new(args: argparse.Namespace) -> int:
    source = template_source.normalize(args.template or template_source.default_source())
    # A tag, so the project records a release it can later be diffed and updated from.
    ref = args.vcs_ref or template_source.latest_tag(source) or "HEAD"
    config = template_source.copier_config(source, ref)
    answers: dict[str, Any] = {}
    preset = args.preset or (_choose_preset() if _interactive(args) else None)
    if preset:
        label, preset_answers = presets.load_preset(preset)
        answers |= questions.check_answers(preset_answers, config, origin=label, version=ref)
    answers |= questions.check_answers(
        questions.parse_data(args.data), config, origin="--data", from_text=True, version=ref
    )
    dest = resolved(args.dest)
    if dest.exists() and not dest.is_dir():
        raise CliError(f"{dest} exists and is not a directory: choose a new directory")
    existing = next(parent for parent in dest.parents if parent.exists())
    if not existing.is_dir():
        raise CliError(f"{existing} is a file, so {dest} cannot be created: choose another path")
    if dest.exists() and any(dest.iterdir()):
        raise CliError(
            f"{dest} exists and is not empty: choose a new directory "
            f"(or run `{PROG} update {dest}` for a project generated earlier)"
        )
    _copy(source, dest, answers, ref, interactive=_interactive(args))
    recorded = read_answers(dest)
    print(f"Created {dest} from {recorded['_src_path']} at {recorded['_commit']}.")
    committed = not args.no_git and _git_init(dest, recorded)
    print("Next steps:")
    print(f"  cd {dest}")
    if not committed:
        print("  git init && git add -A && git commit -m 'Generated service'")
    if recorded.get("project_kind") == "platform_collector":
        print("  kubectl apply -k deploy/k8s/overlays/prod    # once per cluster (see README.md)")
    else:
        print("  make install && make test")
    print(f"  {PROG} doctor    # later: is a newer template release available?")
    print(f"  {PROG} update    # take it, keeping your edits")
    return 0


def _copy(source: str, dest: Path, answers: dict[str, Any], ref: str, *, interactive: bool) -> None:
    _run_copy(
        source,
        dest,
        data=answers,
        # Releases before 0.5 have no default service name: the same one, the folder's.
        user_defaults={"service_name": dns_label(dest)},
        vcs_ref=ref,
        defaults=not interactive,
        quiet=not interactive,
    )


def _run_copy(source: str, dest: Path, **options: Any) -> None:
    with warnings.catch_warnings():
        # Rendering a local template's uncommitted working tree (--vcs-ref HEAD) is intended.
        warnings.simplefilter("ignore", DirtyLocalWarning)
        # The template runs its own Jinja extension (generator/copier_extension.py) and one
        # task, generator/tasks/lock_dependencies.py (`uv lock`); no other template code.
        copier.run_copy(source, dest, unsafe=True, **options)


def _choose_preset() -> str | None:
    import questionary

    builtins = presets.builtin_presets()
    choices = [questionary.Choice("none: answer every question", value="")]
    choices += [
        questionary.Choice(f"{name}: {presets.describe(path)}", value=name)
        for name, path in builtins.items()
    ]
    picked = questionary.select("Start from a preset?", choices=choices).ask()
    if picked is None:
        raise KeyboardInterrupt
    return picked or None


def _git_init(dest: Path, recorded: dict[str, Any]) -> bool:
    """A first commit, because copier update diffs against it; skipped inside another repo."""
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=dest, capture_output=True
    )
    if inside.returncode == 0:
        return False
    steps = [
        ["git", "init", "--quiet"],
        ["git", "add", "-A"],
        ["git", "commit", "--quiet", "-m", f"Generated from the template at {recorded['_commit']}"],
    ]
    for step in steps:
        result = subprocess.run(step, cwd=dest, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"note: {' '.join(step)} failed ({result.stderr.strip()}); commit it yourself")
            return False
    return True


def cmd_update(args: argparse.Namespace) -> int:
    project = project_directory(args.project)
    recorded = read_answers(project)
    require_clean_git_tree(project)
    source = str(recorded["_src_path"])
    target = args.vcs_ref or template_source.latest_tag(source) or "HEAD"
    config = template_source.copier_config(source, target)
    data = questions.check_answers(
        questions.parse_data(args.data), config, origin="--data", from_text=True, version=target
    )
    interactive = _interactive(args)
    copier.run_update(
        project,
        data=data,
        vcs_ref=target,
        defaults=not interactive,
        overwrite=True,
        unsafe=True,
        conflict="inline",
        quiet=not interactive,
    )
    updated = read_answers(project)
    replaced = _replaced_answers(recorded, updated, data)
    if replaced:
        # Copier drops a recorded answer the new release's validator refuses and renders
        # its default instead, silently; the tree was clean, so put it back and say so.
        git(project, "reset", "--quiet", "--hard", "HEAD")
        git(project, "clean", "--quiet", "-d", "--force")
        changes = "; ".join(f"{key} {old!r} (would become {new!r})" for key, old, new in replaced)
        fixes = " ".join(f"--data {key}=..." for key, _, _ in replaced)
        raise CliError(
            f"{target} refuses the recorded answer(s) {changes}: run the update again with "
            f"{fixes} giving valid values (otel-service options); the project is unchanged"
        )
    conflicts = find_conflicts(project)
    if conflicts:
        print(
            f"{PROG}: update from {recorded['_commit']} to {updated['_commit']} left "
            f"{len(conflicts)} conflicted file(s):",
            file=sys.stderr,
        )
        for name in conflicts:
            print(f"  {name}", file=sys.stderr)
        print(
            "Resolve the <<<<<<< / >>>>>>> blocks (and any .rej file), then git add and commit.",
            file=sys.stderr,
        )
        return 1
    print(f"Updated {project} from {recorded['_commit']} to {updated['_commit']}, no conflicts.")
    print("Review with `git diff`, run the tests, then commit.")
    return 0


def _replaced_answers(
    before: dict[str, Any], after: dict[str, Any], data: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """Answers the update changed although no --data asked for it."""
    return [
        (key, before[key], after[key])
        for key in sorted(before.keys() & after.keys())
        if not key.startswith("_") and key not in data and before[key] != after[key]
    ]


def cmd_doctor(args: argparse.Namespace) -> int:
    project = project_directory(args.project)
    recorded = read_answers(project)
    print(f"ok    {ANSWERS_FILE} parses")
    source, commit = str(recorded["_src_path"]), str(recorded["_commit"])
    tags = template_source.release_tags(source)
    print(f"ok    template source {source} resolves")
    if commit not in tags:
        raise CliError(
            f"_commit {commit!r} is not a release tag of {source}: the project was rendered "
            "from an untagged commit, so updates cannot diff against it; "
            f"run `{PROG} update --vcs-ref <tag>` from a tagged release",
            exit_code=1,
        )
    print(f"ok    _commit {commit} is a release tag")
    problems = 0
    newer = [tag for tag in tags if _newer(tag, commit)]
    if newer:
        print(f"note  newer template release {newer[-1]}: run `{PROG} update`")
        problems += 1
    else:
        print("ok    on the latest template release")
    drifted = _drift(project, source, commit, recorded)
    if drifted:
        print(f"note  {len(drifted)} file(s) differ from a fresh render of {commit}:")
        for name in drifted:
            print(f"        {name}")
        problems += 1
    else:
        print(f"ok    no drift from a fresh render of {commit}")
    return 1 if args.strict and problems else 0


def _newer(tag: str, than: str) -> bool:
    tag_version = template_source.parse_version(tag)
    current = template_source.parse_version(than)
    return bool(tag_version and current and tag_version > current)


def _drift(project: Path, source: str, commit: str, recorded: dict[str, Any]) -> list[str]:
    """Template files the project changed or deleted, like cruft's check (added files are fine)."""
    answers = {key: value for key, value in recorded.items() if not key.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="otel-service-doctor.") as scratch:
        fresh = Path(scratch) / project.name
        _run_copy(
            source, fresh, data=answers, vcs_ref=commit, defaults=True, quiet=True, skip_tasks=True
        )
        drifted = []
        for path in sorted(fresh.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(fresh).as_posix()
            if name == ANSWERS_FILE:
                continue
            mine = project / name
            if not mine.is_file():
                drifted.append(f"{name} (deleted)")
            elif not filecmp.cmp(path, mine, shallow=False):
                drifted.append(f"{name} (changed)")
        return drifted


def cmd_options(args: argparse.Namespace) -> int:
    source = template_source.normalize(args.template or template_source.default_source())
    config = template_source.copier_config(source, args.vcs_ref or "HEAD")
    sys.stdout.write(questions.render_options(config, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
