"""`python app.py --mcp`: every tab is an MCP tool whose parameters say what they mean."""

import json
import urllib.request

import pytest

import app as flow_app


@pytest.fixture(scope="module")
def mcp_app(tiny_weights, tmp_path_factory, free_port):
    out = tmp_path_factory.mktemp("mcp_outputs")
    model_flags = [arg for repo, path in tiny_weights.items() for arg in ("--model-path", f"{repo}={path}")]
    args = flow_app.parse_args(["--demo", "--mcp", "--output-dir", str(out), "--port", str(free_port()), *model_flags])
    app = flow_app.launch(args, prevent_thread_lock=True)
    yield app.local_url.rstrip("/")
    app.close()


def http_json(url: str, body: dict | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **(headers or {})})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
        session = response.headers.get("mcp-session-id")
    if text.startswith("event:") or "\ndata:" in text or text.startswith("data:"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    return json.loads(text), session


def test_every_tab_is_an_mcp_tool_with_described_parameters(mcp_app):
    schema, _ = http_json(f"{mcp_app}/gradio_api/mcp/schema")
    tools = {tool["name"]: tool for tool in schema}
    for tab in ("flow_video", "lora_trainer", "image_to_video", "long_video", "frame_prediction"):
        assert tab in tools, f"{tab} is not an MCP tool: {sorted(tools)}"
    long_video = tools["long_video"]
    assert "AnimateDiff" in long_video["description"]
    properties = long_video["inputSchema"]["properties"]
    assert properties["prompt"]["description"] == "what the video shows"
    assert "FreeNoise" in properties["frames"]["description"]
    assert "long_video_stop" in tools


def test_the_tool_list_over_the_mcp_protocol(mcp_app):
    endpoint = f"{mcp_app}/gradio_api/mcp/"
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-03-26", "capabilities": {},
                       "clientInfo": {"name": "flowstudio-test", "version": "1"}}}
    answer, session = http_json(endpoint, init)
    assert answer["result"]["serverInfo"]
    headers = {"mcp-session-id": session} if session else {}
    http_json_notify = urllib.request.Request(endpoint, data=json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/initialized"}).encode(), headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    urllib.request.urlopen(http_json_notify, timeout=60).read()
    listed, _ = http_json(endpoint, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers)
    names = {tool["name"] for tool in listed["result"]["tools"]}
    assert {"long_video", "frame_prediction", "image_to_video"} <= names
