"""The HTTP routes of ``sectune serve``: the Open Inference Protocol v2, plain JSON, metrics and the page.

- ``GET /v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}/ready``, ``GET /v2/models/{name}`` and
  ``POST /v2/models/{name}/infer`` (KServe/Triton clients work unchanged; texts are a ``BYTES`` input);
- ``GET /models``, ``POST /predict`` (top-k labels, CWE names and links; CVE JSON 5 records accepted as they are)
  and ``POST /scan`` (command lines: score, alert at the model's stored threshold, technique, explanation);
- ``GET /metrics`` (Prometheus) and ``GET /`` (the page: sectune/serving/static).

Every error is ``{"error": "..."}`` with its status, and never carries a traceback or the input back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Iterator, Sequence, TypeVar

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException
from starlette.routing import Match

from sectune import __version__
from sectune.errors import SectuneError, first_problem, shorten
from sectune.serving.batching import Overloaded
from sectune.serving.models import ServedModel, attach_batchers, cwe_url
from sectune.serving.observability import AccessLog, Metrics
from sectune.serving.security import Guard, Limits

log = logging.getLogger("sectune.serve")
M = TypeVar("M", bound=BaseModel)
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class FastJSON(JSONResponse):
    """orjson, numpy-aware: a 256-row probability matrix is rendered without a Python float per cell."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


# --- request bodies ---------------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PredictRequest(Strict):
    """``texts`` or ``records`` (CVE JSON 5 records, as the CVE List holds them), never both."""

    texts: list[str] | None = None
    records: list[dict[str, Any]] | None = None
    top_k: int = Field(3, ge=1, le=100)
    model: str | None = None

    @model_validator(mode="after")
    def one_input(self) -> "PredictRequest":
        if (self.texts is None) == (self.records is None):
            raise ValueError("give either texts or records (CVE JSON 5), not both")
        return self


class ScanRequest(Strict):
    lines: list[str]
    model: str | None = None
    explain: bool = True
    top: int = Field(5, ge=1, le=50)  # contributions per explanation


class InferInput(Strict):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestedOutput(Strict):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(Strict):
    id: str | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = None


# --- the app ----------------------------------------------------------------------------------------------------
class Server:
    """The state the routes share: models by name, the limits, the metrics, the in-flight count."""

    def __init__(self, models: Sequence[ServedModel], limits: Limits, metrics: Metrics) -> None:
        if not models:
            raise SectuneError("serve needs at least one model")
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        self.limits, self.metrics = limits, metrics
        self.in_flight = 0
        self.ready = False

    def model(self, name: str | None, *, binary: bool = False) -> ServedModel:
        if name is None:
            if not binary:
                return self.models[self.default]
            found = next((m for m in self.models.values() if m.binary), None)
            if found is None:
                raise HTTPException(422, "no binary (command-line) model is served: /scan needs one")
            return found
        model = self.models.get(name)
        if model is None:
            raise HTTPException(404, f"no model named '{shorten(name)}' (served: {', '.join(self.models)})")
        if binary and not model.binary:
            raise HTTPException(422, f"model '{name}' has {len(model.clf.labels_)} labels: /scan needs a binary model")
        return model

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One of ``max_concurrency`` inference slots, or 429 at once: no request waits in an unbounded line."""
        if self.in_flight >= self.limits.max_concurrency:
            self.metrics.reject("busy")
            raise HTTPException(
                429,
                f"server busy: {self.in_flight} requests in flight (cap {self.limits.max_concurrency}); retry later",
                headers={"retry-after": "1"},
            )
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    def check_batch(self, items: Sequence[Any], what: str = "texts") -> None:
        """An empty batch is 422; a batch over the cap, or a text over the length cap, is 413."""
        if not items:
            raise HTTPException(422, f"{what} is empty: give at least one")
        if len(items) > self.limits.max_batch:
            self.metrics.reject("batch_too_large")
            raise HTTPException(
                413, f"{len(items):,} {what} in one request is over the cap of {self.limits.max_batch}: split the batch"
            )
        longest = max((len(t) for t in items if isinstance(t, str)), default=0)
        if longest > self.limits.max_text_chars:
            self.metrics.reject("text_too_long")
            raise HTTPException(
                413, f"a text of {longest:,} characters is over the cap of {self.limits.max_text_chars:,}"
            )

    async def score(self, model: ServedModel, texts: list[str]) -> np.ndarray:
        """The texts' probabilities through the model's micro-batcher, bounded in queue and time."""
        assert model.batcher is not None
        try:
            return await asyncio.wait_for(model.batcher.submit(texts), self.limits.timeout_s)
        except Overloaded as exc:
            self.metrics.reject("queue_full")
            raise HTTPException(503, f"overloaded: {exc}; retry later", headers={"retry-after": "1"}) from None
        except asyncio.TimeoutError:
            self.metrics.reject("timeout")
            raise HTTPException(
                503, f"no result within {self.limits.timeout_s:g} s", headers={"retry-after": "1"}
            ) from None


def create_app(models: Sequence[ServedModel], *, limits: Limits | None = None, token: str | None = None) -> FastAPI:
    """The ASGI app serving ``models`` (from :func:`sectune.serving.models.load_models` or ``serve_model``)."""
    limits = limits or Limits()
    metrics = Metrics()
    server = Server(models, limits, metrics)
    attach_batchers(models, limits, metrics.batch, in_flight=lambda: server.in_flight)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for model in server.models.values():
            model.batcher.start()
        server.ready = True
        try:
            yield
        finally:
            server.ready = False
            for model in server.models.values():
                await model.batcher.stop()

    app = FastAPI(
        title="sectune",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads scripts from a CDN; the plain page at / needs nothing external
        redoc_url=None,
        default_response_class=FastJSON,
    )
    app.state.server = server
    install_error_handlers(app)
    add_routes(app, server)

    def route_of(scope: dict[str, Any]) -> str:
        for route in app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "path", "other")
        return "unmatched"  # never the raw path: a label per scanned URL would grow without bound

    app.add_middleware(Guard, token=token, max_body_bytes=limits.max_body_bytes, on_reject=metrics.reject)
    app.add_middleware(AccessLog, metrics=metrics, route_of=route_of)
    return app


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return FastJSON({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return FastJSON({"error": "invalid request"}, status_code=422)  # no route uses FastAPI's body parsing

    @app.exception_handler(SectuneError)
    async def refused(request: Request, exc: SectuneError) -> Response:
        return FastJSON({"error": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("error serving %s %s", request.method, request.url.path, exc_info=exc)
        return FastJSON({"error": "internal error (the server log has the details)"}, status_code=500)


def add_routes(app: FastAPI, server: Server) -> None:
    # --- Open Inference Protocol v2 ------------------------------------------------------------------------------
    @app.get("/v2")
    async def server_metadata() -> Response:
        return FastJSON({"name": "sectune", "version": __version__, "extensions": []})

    @app.get("/v2/health/live")
    async def live() -> Response:
        return FastJSON({"live": True})

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return FastJSON({"ready": server.ready}, status_code=200 if server.ready else 503)

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Response:
        model = server.model(name)
        return FastJSON({"name": model.name, "ready": server.ready}, status_code=200 if server.ready else 503)

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> Response:
        model = server.model(name)
        n = len(model.clf.labels_)
        outputs = [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, n]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ]
        if model.binary:
            outputs.append({"name": "score", "datatype": "FP32", "shape": [-1]})
        return FastJSON(
            {
                "name": model.name,
                "versions": ["1"],
                "platform": f"sectune/{model.clf.name}",
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
                "outputs": outputs,
                **{k: v for k, v in model.describe().items() if k != "name"},
            }
        )

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        body = await parse(request, InferRequest)
        model = server.model(name)
        if len(body.inputs) != 1:
            raise HTTPException(400, f"model '{model.name}' takes one input (the texts), got {len(body.inputs)}")
        given = body.inputs[0]
        if given.datatype != "BYTES":
            raise HTTPException(
                400, f"input '{shorten(given.name)}' must be BYTES (texts), not {shorten(given.datatype)}"
            )
        texts = flatten_texts(given.data)
        if any(d < 0 for d in given.shape) or math.prod(given.shape) != len(texts):
            raise HTTPException(400, f"input shape {given.shape} does not match its {len(texts)} data elements")
        server.check_batch(texts)
        names = ["probabilities", "label", *(["score"] if model.binary else [])]
        wanted = [o.name for o in body.outputs] if body.outputs else names
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise HTTPException(400, f"unknown output '{shorten(unknown[0])}' (outputs: {', '.join(names)})")
        with server.slot():
            proba = await server.score(model, texts)
        labels = model.clf.labels_
        if model.binary:
            top = [labels[int(p >= model.threshold)] for p in proba[:, 1]]
        else:
            top = [labels[i] for i in proba.argmax(axis=1)]
        made = {
            "probabilities": {
                "datatype": "FP32",
                "shape": [len(texts), len(labels)],
                "data": proba.astype(np.float32).ravel(),
            },
            "label": {"datatype": "BYTES", "shape": [len(texts)], "data": top},
            "score": {"datatype": "FP32", "shape": [len(texts)], "data": proba[:, -1].astype(np.float32)},
        }
        out: dict[str, Any] = {"model_name": model.name, "model_version": "1"}
        if body.id is not None:
            out["id"] = body.id
        out["outputs"] = [{"name": w, **made[w]} for w in wanted]
        out["parameters"] = {"labels": labels}
        return FastJSON(out)

    # --- plain JSON ----------------------------------------------------------------------------------------------
    @app.get("/models")
    async def list_models() -> Response:
        return FastJSON({"default": server.default, "models": [m.describe() for m in server.models.values()]})

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        body = await parse(request, PredictRequest)
        from sectune.api import prediction_rows

        model = server.model(body.model)
        if body.records is not None:
            server.check_batch(body.records, "records")
            ids, texts, stated, skipped = read_records(body.records)
            if texts:
                server.check_batch(texts)  # the descriptions' length cap
        else:
            texts, ids, stated, skipped = list(body.texts or []), [], [], {}
            server.check_batch(texts)
        if texts:
            with server.slot():
                proba = await server.score(model, texts)
            rows = prediction_rows(model.clf, proba, top_k=body.top_k, namer=model.namer)
        else:
            rows = []
        for row in rows:
            for item in row["predictions"]:
                url = cwe_url(item["label"])
                if url:
                    item["url"] = url
        if body.records is not None:  # each record in order: its id, the CWEs it states, or why it has no text
            scored = iter(zip(ids, stated, rows))
            results = []
            for i in range(len(body.records)):
                if i in skipped:
                    results.append({"id": skipped[i][0], "skipped": skipped[i][1]})
                else:
                    cve_id, cwes, row = next(scored)
                    results.append({"id": cve_id, "stated": cwes, **row})
            rows = results
        return FastJSON({"model": model.name, "results": rows})

    @app.post("/scan")
    async def scan(request: Request) -> Response:
        body = await parse(request, ScanRequest)
        model = server.model(body.model, binary=True)
        server.check_batch(body.lines, "lines")
        with server.slot():
            proba = await server.score(model, body.lines)
            alerts = proba[:, 1] >= model.threshold
            details = await model.batcher.run_in_model_thread(describe_lines, model, body.lines, alerts, body)
        labels = model.clf.labels_
        results = [
            {"score": round(float(p), 6), "alert": bool(a), "decision": labels[int(a)], **extra}
            for p, a, extra in zip(proba[:, 1], alerts, details)
        ]
        return FastJSON(
            {"model": model.name, "threshold": model.threshold, "positive_label": labels[1], "results": results}
        )

    # --- operations and the page ---------------------------------------------------------------------------------
    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(server.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/")
    async def page() -> Response:
        return Response(static_file("index.html"), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC:  # a fixed list: no path from a request ever reaches the file system
            raise HTTPException(404, "Not Found")
        return Response(static_file(name), media_type=STATIC[name], headers=PAGE_HEADERS)


async def parse(request: Request, schema: type[M]) -> M:
    """The body as ``schema``: whatever the Content-Type (``curl -d`` sends a form type), malformed JSON is 400, a
    wrong field 422 naming the field (``texts[3]``) and never echoing the value."""
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HTTPException(
            400, "the body is not valid JSON" if raw.strip() else "the body is empty: send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise HTTPException(422, f"the body must be a JSON object, not {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        field, problem = first_problem(exc, nested=True)
        raise HTTPException(422, f"{field}: {problem.removeprefix('Value error, ')}") from None


def static_file(name: str) -> bytes:
    return resources.files("sectune.serving").joinpath("static", name).read_bytes()


def flatten_texts(data: list[Any]) -> list[str]:
    """A v2 BYTES tensor's elements, row-major (the JSON may nest them by shape); each must be a string."""
    out: list[str] = []
    stack = [iter(data)]
    while stack:
        item = next(stack[-1], StopIteration)
        if item is StopIteration:
            stack.pop()
        elif isinstance(item, list):
            if len(stack) > 8:
                raise HTTPException(400, "input data is nested too deeply")
            stack.append(iter(item))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise HTTPException(422, f"input data element {len(out)} is {type(item).__name__}, not a string")
    return out


def read_records(records: list[dict[str, Any]]) -> tuple[list[str], list[str], list[list[str]], dict[int, tuple]]:
    """CVE JSON 5 records -> (ids, descriptions, stated CWEs, {index: (id, why skipped)}), read as ``sectune data cve``
    reads them (the CNA's English description; the CNA's, else an ADP's, CWEs), keeping unlabelled records."""
    from sectune.tasks.cwe.ingest import MalformedRecord, SkipReason, parse_cve_json5

    ids, texts, stated, skipped = [], [], [], {}
    for i, obj in enumerate(records):
        try:
            record = parse_cve_json5(obj, require_cwe=False)
        except MalformedRecord as exc:
            raise HTTPException(422, f"records[{i}] is not a CVE JSON 5 record: {shorten(str(exc), 120)}") from None
        cve_id = (obj.get("cveMetadata") or {}).get("cveId") if isinstance(obj.get("cveMetadata"), dict) else None
        if isinstance(record, SkipReason):
            skipped[i] = (cve_id, record.value)
            continue
        ids.append(record.cve_id)
        texts.append(record.description)
        stated.append(list(record.cwe))
    return ids, texts, stated, skipped


def describe_lines(model: ServedModel, lines: list[str], alerts: np.ndarray, body: ScanRequest) -> list[dict[str, Any]]:
    """Per line, beside its score: the technique the model guesses, its explanation, and (for an alert) the
    normalised line. Runs in the model's thread: explaining reads the model as scoring does."""
    clf = model.clf
    out = []
    for line, alert in zip(lines, alerts):
        item: dict[str, Any] = {
            "technique": clf.guess_technique(line) if clf.tags.guesses_technique else None,
        }
        if body.explain and model.explains:
            try:
                item["explanation"] = [
                    {"what": str(what), "value": shown(value), "contribution": round(float(c), 4)}
                    for what, value, c in clf.explain(line, top=body.top)
                ]
            except SectuneError:
                item["explanation"] = None
        if alert and model.normalize is not None:
            item["normalized"] = model.normalize(line).normal
        out.append(item)
    return out


def shown(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return round(float(value), 4) if math.isfinite(float(value)) else None
    return shorten(str(value), 160)
