"""Flow Studio: `python app.py` opens the app; `python app.py run ENGINE ...` runs one job headless.

Nothing heavy happens here: models load on first use (on ZeroGPU, at start-up, as it requires).
"""

from __future__ import annotations

import argparse
import os
import sys

if os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true", "t"):
    import spaces  # noqa: F401  (ZeroGPU must patch torch before anything imports it)

ON_SPACE = bool(os.environ.get("SPACE_ID"))  # set by Hugging Face on every Space


def parse_args(argv: list[str]) -> argparse.Namespace:
    from backends.cli import add_runtime_flags

    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Flow Studio. Headless runs: `python app.py run ENGINE --help`.",
    )
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or the next free one)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs internet)")
    parser.add_argument("--auth", default=None, metavar="USER:PASS", help="require this login (strongly advised with --share)")
    parser.add_argument("--public", action="store_true",
                        help="treat every visitor as a stranger (implied by --share, --auth and a Space): uploads and "
                             "the app's folders only, each visitor sees their own outputs")
    parser.add_argument("--shared-gallery", action="store_true",
                        help="on a shared deployment, show every visitor's outputs to everyone")
    parser.add_argument("--allow-downloads", action="store_true",
                        help="on a shared deployment, let visitors start weight downloads in the Models panel "
                             "(off there by default: a download is several GB)")
    parser.add_argument("--mcp", action="store_true", default=ON_SPACE,
                        help="also serve every tab as an MCP tool at /gradio_api/mcp/ (on by default on a Space)")
    parser.add_argument("--analytics", action="store_true", help="let Gradio send its usage analytics (off by default)")
    parser.add_argument("--tabs", default=None, help="comma-separated tab ids to show, e.g. long_video,frame_prediction")
    parser.add_argument("--download", default=None, metavar="ENGINE", help="prefetch an engine's weights and exit")
    parser.add_argument("--with-optional", action="store_true",
                        help="with --download: also weights only an option uses (e.g. the IP-Adapter for a reference image)")
    parser.add_argument("--concurrency", type=int, default=1, help="GPU jobs run at once (default 1)")
    parser.add_argument("--max-queue", type=int, default=16, help="jobs waiting at most; more are turned away")
    parser.add_argument("--max-file-size", default="500mb", help="largest upload accepted")
    add_runtime_flags(parser)
    return parser.parse_args(argv)


def download(engine: str, runtime, optional: bool = False) -> int:
    from backends.core.console import print_events
    from backends.core.jobs import CancelToken
    from backends.weights import download as download_job

    try:
        print_events(download_job(engine, cancel=CancelToken(), runtime=runtime, optional=optional))
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


SHARE_WARNING = ("WARNING: --share makes this app public to anyone with the link, and it runs on your GPU. "
                 "Add --auth USER:PASS to require a login.")


def access(args: argparse.Namespace, known_tabs: list[str]) -> tuple[list[str] | None, tuple[str, str] | None]:
    """(tabs to show, login) from the flags; ValueError for bad values; warns about open shares."""
    tabs = [t.strip() for t in args.tabs.split(",") if t.strip()] if args.tabs else None
    unknown = set(tabs or ()) - set(known_tabs)
    if unknown:
        raise ValueError(f"unknown tab(s) {', '.join(sorted(unknown))}; known: {', '.join(known_tabs)}")
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if auth and (len(auth) != 2 or not all(auth)):
        raise ValueError("--auth must look like USER:PASS")
    if args.share and not auth:
        print(SHARE_WARNING, file=sys.stderr)
    return tabs, auth


def is_shared(args: argparse.Namespace) -> bool:
    """Whether visitors are strangers: a public link, a login, a Space, or --public."""
    return bool(args.share or args.auth or args.public or ON_SPACE)


def launch(args: argparse.Namespace, prevent_thread_lock: bool = False):
    from backends.cli import runtime_from_args
    from backends.engines import ENGINES
    from ui.app_ui import CSS, TABS, build_app

    try:
        tabs, auth = access(args, [t.id for t in TABS])
    except ValueError as error:
        sys.exit(f"error: {error}")
    runtime = runtime_from_args(args, shared=is_shared(args), shared_gallery=args.shared_gallery,
                                allow_downloads=args.allow_downloads)
    if args.download:
        sys.exit(download(args.download, runtime, args.with_optional))
    if runtime.policy.preload:  # ZeroGPU: weights go on `cuda` at start-up
        for engine in ENGINES.values():
            if not tabs or engine.tab in tabs:
                engine.load(runtime)
    app = build_app(runtime, tabs)
    app.queue(max_size=args.max_queue, default_concurrency_limit=args.concurrency)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        allowed_paths=[str(runtime.outputs.root.resolve())],
        max_file_size=args.max_file_size,
        css=CSS,
        prevent_thread_lock=prevent_thread_lock,
        show_error=False,  # our own errors are gr.Error and always shown; Gradio's internals are not
        mcp_server=args.mcp,
    )
    return app


def main(argv: list[str]) -> int:
    if "--analytics" not in argv:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if argv and argv[0] == "run":
        from backends.cli import main as run_main

        return run_main(argv[1:])
    launch(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
