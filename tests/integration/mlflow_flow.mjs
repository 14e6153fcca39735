// mlflow_flow.mjs - drives edgeflow's tracking server with the npm `mlflow` client (2.0.7), the
// stock JavaScript MLflow client, for every call of the reference flow that the client has.
//
// The flow itself is sequenced by the pytest test (test_53_tracking_reference_flow.py), because it
// interleaves these calls with the ones the npm client lacks (get-by-name, the artifact proxy,
// log-model, the model registry), which the test makes with Python requests, in the order of
// shared/specs/mlflow-api.md §7. This script is the test's hands on the npm client: it reads one
// JSON request per line on stdin and answers one JSON line on stdout:
//
//   in:  {"id": 7, "call": "Runs.logMetric", "args": {"run_id": "...", "key": "rmse", ...}}
//   out: {"id": 7, "ok": true, "data": <the client's parsed response>}
//        {"id": 7, "ok": false, "status": 400, "data": {"error_code": "...", "message": "..."}}
//        {"id": 7, "ok": false, "error": "<message>"}          (network error, unknown call)
//
// `call` is "<Group>.<method>" of the client object (Experiments, Runs, Metrics, Artifacts), e.g.
// Experiments.create, Runs.create, Runs.logBatch, Runs.logParameter, Runs.logMetric, Runs.get,
// Runs.update, Runs.search, Metrics.getHistory, Artifacts.list. Nothing is re-implemented here:
// the request each call sends (method, URL, query string or JSON body, headers) is the client's.
//
// The client prints every request body with console.log; that would corrupt the protocol on
// stdout, so console.log is sent to stderr (the test's log).
//
// Usage: node mlflow_flow.mjs http://127.0.0.1:PORT
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
const MLflow = require('mlflow');

console.log = (...a) => console.error('[mlflow client]', ...a);

const endpoint = process.argv[2];
if (!endpoint) {
    console.error('usage: node mlflow_flow.mjs http://127.0.0.1:PORT');
    process.exit(2);
}
const client = new MLflow({ endpoint });
const GROUPS = new Set(['Experiments', 'Runs', 'Metrics', 'Artifacts']);

// The client rejects non-200 answers with Error(Error(JSON.stringify({status, statusText, data}))):
// recover status and body so the test can assert MLflow's error_code and HTTP status.
function failure(id, err) {
    const text = String(err && err.message !== undefined ? err.message : err);
    const brace = text.indexOf('{');
    if (brace >= 0) {
        try {
            const e = JSON.parse(text.slice(brace));
            if (typeof e.status === 'number') return { id, ok: false, status: e.status, data: e.data };
        } catch (_) {
            // not the client's HTTP error: fall through
        }
    }
    return { id, ok: false, error: text };
}

async function handle(line) {
    let req;
    try {
        req = JSON.parse(line);
    } catch (e) {
        return { id: null, ok: false, error: `bad request line: ${e.message}` };
    }
    const [group, method] = String(req.call || '').split('.');
    if (!GROUPS.has(group)) return { id: req.id, ok: false, error: `unknown group ${group}` };
    const api = client[group];
    if (typeof api[method] !== 'function') {
        return { id: req.id, ok: false, error: `${group} has no method ${method}` };
    }
    try {
        const data = await api[method](req.args || {});
        return { id: req.id, ok: true, data };
    } catch (e) {
        return failure(req.id, e);
    }
}

// One request at a time, in order: the test is sequential, and so is the flow.
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
    if (!line.trim()) continue;
    const answer = await handle(line);
    process.stdout.write(JSON.stringify(answer) + '\n');
}
