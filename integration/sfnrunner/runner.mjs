// runner.mjs: the long-lived Step Functions runner of the local stack.
//
// It runs state machines with aws-local-stepfunctions and makes them behave
// like AWS where the library does not: every Task state goes through a local
// handler that calls the local AWS endpoint (Lambda Invoke, ECS RunTask,
// StartExecution, PutEvents, SendMessage, DynamoDB) and raises AWS's error
// names and Cause strings; INLINE Map runs at most 40 iterations at once; a
// state input or output over 256 KB fails the execution with
// States.DataLimitExceeded; and every timer of the process is divided by the
// time scale k, so Wait, Retry intervals and timeouts run in simulated seconds.
//
// Protocol (newline-delimited JSON):
//   stdin  {"op":"define","req":n,"arn":…,"definition":{…},"validate":bool}
//          {"op":"start","arn":execArn,"machine":smArn,"input":…,"context":{…}}
//          {"op":"stop","arn":execArn}
//   stdout {"ev":"ready"} | {"ev":"reply","req":n,"error":…}
//          {"ev":"h","arn":…,"t":type,"s":state,"i":index,"err":…,"cause":…}
//          {"ev":"done","arn":…,"status":…,"output":…,"error":…,"cause":…}
//
// Environment: TH_SFN_ENDPOINT (http://127.0.0.1:PORT, the edge),
// TH_TIME_SCALE (k, default 1), AWS_REGION, TH_ACCOUNT.

import http from 'node:http';
import readline from 'node:readline';

// Scale every timer before the library is imported (tooling.md §9). Node's
// http module keeps its own timers, so network I/O is not affected.
const K = Number(process.env.TH_TIME_SCALE || '1') > 0 ? Number(process.env.TH_TIME_SCALE || '1') : 1;
const realSetTimeout = globalThis.setTimeout;
const MAX_DELAY = 2147483647;
globalThis.setTimeout = function scaledSetTimeout(fn, ms, ...args) {
  let d = (Number(ms) || 0) / K;
  if (d > MAX_DELAY) d = MAX_DELAY; // AWS's Task default is 99999999 s: never fires in practice
  return realSetTimeout(fn, d, ...args);
};

const { StateMachine, ExecutionError, ExecutionAbortedError, ExecutionTimeoutError } = await import('aws-local-stepfunctions');

const ENDPOINT = new URL(process.env.TH_SFN_ENDPOINT || 'http://127.0.0.1:4566');
const REGION = process.env.AWS_REGION || 'us-east-1';
const DATA_LIMIT = 256 * 1024; // bytes, UTF-8
const INLINE_MAX = 40;
const DISTRIBUTED_DEFAULT = 10000;
const TASK_DEFAULT_TIMEOUT = 99999999; // seconds, AWS's default for Task states

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

// ---- output to Go, batched per event-loop turn ----
let outBuf = [];
function send(msg) {
  if (outBuf.length === 0) setImmediate(flush);
  outBuf.push(JSON.stringify(msg));
}
function flush() {
  if (outBuf.length === 0) return;
  const s = outBuf.join('\n') + '\n';
  outBuf = [];
  process.stdout.write(s);
}

// ---- HTTP to the edge ----
function post(path, headers, body) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.from(body, 'utf8');
    const req = http.request({
      host: ENDPOINT.hostname, port: ENDPOINT.port, path, method: 'POST', agent,
      headers: { ...headers, 'Content-Length': buf.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(buf);
  });
}

// A dummy SigV4 header: dynalite insists on one; nothing checks it.
function authHeader(service) {
  return `AWS4-HMAC-SHA256 Credential=local/20260101/${REGION}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000`;
}

function awsJSON(target, version, service, payload) {
  return post('/', {
    'Content-Type': `application/x-amz-json-${version}`,
    'X-Amz-Target': target,
    'X-Amz-Date': '20260101T000000Z',
    Authorization: authHeader(service),
  }, JSON.stringify(payload));
}

// ---- errors as Step Functions raises them ----
function taskError(name, cause) {
  const e = new Error(cause);
  e.name = name;
  return e;
}

function requestId() {
  return crypto.randomUUID();
}

// errorCode reads an AWS JSON error's code from x-amzn-ErrorType or __type.
function errorInfo(r) {
  let doc = {};
  try { doc = JSON.parse(r.body || '{}'); } catch { /* not JSON */ }
  let code = r.headers['x-amzn-errortype'] || doc.__type || doc.code || doc.Code || '';
  code = String(code).split(':')[0];
  if (code.includes('#')) code = code.slice(code.lastIndexOf('#') + 1);
  const message = doc.message || doc.Message || doc.errorMessage || '';
  return { code, message, rid: r.headers['x-amzn-requestid'] || r.headers['x-amz-request-id'] || requestId() };
}

// javaCause formats an SDK exception as the Java SDK inside Step Functions does.
function javaCause(message, service, status, code, rid) {
  let m = message || code;
  if (!/[.!?]$/.test(m)) m += '.';
  return `${m} (Service: ${service}; Status Code: ${status}; Error Code: ${code}; Request ID: ${rid}; Proxy: null)`;
}

function serviceError(r, prefix, javaService, modeled, fallback) {
  const { code, message, rid } = errorInfo(r);
  const name = modeled === null || modeled.has(code) ? `${prefix}.${code || fallback}` : `${prefix}.${fallback}`;
  return taskError(name, javaCause(message, javaService, r.status, code || fallback, rid));
}

// ---- key case conversion for service integrations with lowerCamel APIs ----
function recase(v, f) {
  if (Array.isArray(v)) return v.map((x) => recase(x, f));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[f(k)] = recase(x, f);
    return o;
  }
  return v;
}
const lowerFirst = (k) => k.charAt(0).toLowerCase() + k.slice(1);
const upperFirst = (k) => k.charAt(0).toUpperCase() + k.slice(1);

function byteSize(v) {
  if (v === undefined) return 0;
  const s = JSON.stringify(v);
  if (s === undefined) return 0;
  return s.length * 3 < DATA_LIMIT ? s.length : Buffer.byteLength(s, 'utf8');
}

// ---- Task resources ----
async function invokeLambda(fn, payload) {
  const name = String(fn);
  let r;
  try {
    r = await post(`/2015-03-31/functions/${encodeURIComponent(name)}/invocations`,
      { 'Content-Type': 'application/json', 'X-Amz-Invocation-Type': 'RequestResponse' },
      JSON.stringify(payload === undefined ? {} : payload));
  } catch (e) {
    throw taskError('Lambda.SdkClientException', `Unable to execute HTTP request: ${e.message}`);
  }
  if (r.status === 200) {
    if (r.headers['x-amz-function-error']) {
      let doc = null;
      try { doc = JSON.parse(r.body); } catch { /* keep null */ }
      const name = doc && typeof doc.errorType === 'string' && doc.errorType !== '' ? doc.errorType : 'Lambda.Unknown';
      throw taskError(name, r.body);
    }
    let out = null;
    if (r.body !== '') {
      try { out = JSON.parse(r.body); } catch { out = r.body; }
    }
    return { payload: out, rid: r.headers['x-amzn-requestid'] || requestId(), headers: r.headers };
  }
  if (r.status === 429) throw serviceError(r, 'Lambda', 'AWSLambda', null, 'TooManyRequestsException');
  if (r.status >= 500) {
    const { code, message, rid } = errorInfo(r);
    throw taskError('Lambda.ServiceException', javaCause(message, 'AWSLambda', r.status, code || 'ServiceException', rid));
  }
  throw serviceError(r, 'Lambda', 'AWSLambda', null, 'AWSLambdaException');
}

async function lambdaInvokeIntegration(input) {
  if (!input || typeof input !== 'object' || !input.FunctionName) {
    throw taskError('States.Runtime', 'lambda:invoke needs Parameters.FunctionName');
  }
  const { payload, rid } = await invokeLambda(input.FunctionName, input.Payload);
  return {
    ExecutedVersion: '$LATEST',
    Payload: payload,
    SdkHttpMetadata: { HttpHeaders: { 'Content-Type': 'application/json', 'x-amzn-Remapped-Content-Length': '0', 'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': rid }, HttpStatusCode: 200 },
    SdkResponseMetadata: { RequestId: rid },
    StatusCode: 200,
  };
}

const ECS_MODELED = new Set(['AccessDeniedException', 'BlockedException', 'ClientException', 'ClusterNotFoundException',
  'ConflictException', 'InvalidParameterException', 'PlatformTaskDefinitionIncompatibilityException',
  'PlatformUnknownException', 'ServerException', 'UnsupportedFeatureException']);

async function ecsRunTask(input) {
  let r;
  try {
    r = await awsJSON('AmazonEC2ContainerServiceV20141113.RunTask', '1.1', 'ecs', recase(input, lowerFirst));
  } catch (e) {
    throw taskError('ECS.SdkClientException', `Unable to execute HTTP request: ${e.message}`);
  }
  if (r.status !== 200) throw serviceError(r, 'ECS', 'AmazonECS', ECS_MODELED, 'AmazonECSException');
  const out = recase(JSON.parse(r.body || '{}'), upperFirst);
  out.SdkHttpMetadata = { HttpStatusCode: 200 };
  out.SdkResponseMetadata = { RequestId: r.headers['x-amzn-requestid'] || requestId() };
  return out;
}

async function sfnCall(op, payload) {
  const r = await awsJSON(`AWSStepFunctions.${op}`, '1.0', 'states', payload);
  if (r.status !== 200) throw serviceError(r, 'StepFunctions', 'AWSStepFunctions', null, 'AWSStepFunctionsException');
  return JSON.parse(r.body || '{}');
}

async function startExecution(ex, input, mode) {
  const req = { stateMachineArn: input.StateMachineArn };
  if (input.Name !== undefined) req.name = input.Name;
  if (input.Input !== undefined) req.input = typeof input.Input === 'string' ? input.Input : JSON.stringify(input.Input);
  const started = await sfnCall('StartExecution', req);
  const startDate = Math.round(started.startDate * 1000);
  if (mode === '') return { ExecutionArn: started.executionArn, StartDate: startDate };
  ex.children.add(started.executionArn);
  try {
    await waitFor(started.executionArn);
  } finally {
    ex.children.delete(started.executionArn);
  }
  // The child's end reaches Go on the runner's stdout, which may lag this
  // request: poll until Go has recorded it.
  let d = await sfnCall('DescribeExecution', { executionArn: started.executionArn });
  for (let delay = 1; d.status === 'RUNNING'; delay = Math.min(delay * 2, 50)) {
    await new Promise((resolve) => realSetTimeout(resolve, delay));
    d = await sfnCall('DescribeExecution', { executionArn: started.executionArn });
  }
  const parse = (s) => { try { return JSON.parse(s); } catch { return s; } };
  const out = {
    ExecutionArn: d.executionArn, Input: mode === 'sync2' ? parse(d.input) : d.input,
    InputDetails: { Included: true }, Name: d.name, StartDate: Math.round(d.startDate * 1000),
    StateMachineArn: d.stateMachineArn, Status: d.status,
    StopDate: d.stopDate ? Math.round(d.stopDate * 1000) : undefined,
  };
  if (d.status === 'SUCCEEDED') {
    out.Output = mode === 'sync2' ? parse(d.output) : d.output;
    out.OutputDetails = { Included: true };
    return out;
  }
  out.Error = d.error;
  out.Cause = d.cause;
  throw taskError('States.TaskFailed', JSON.stringify(out));
}

async function putEvents(input) {
  const entries = (input.Entries || []).map((e) => ({ ...e, Detail: typeof e.Detail === 'string' ? e.Detail : JSON.stringify(e.Detail ?? {}) }));
  const r = await awsJSON('AWSEvents.PutEvents', '1.1', 'events', { Entries: entries });
  if (r.status !== 200) throw serviceError(r, 'EventBridge', 'AmazonEventBridge', null, 'AmazonEventBridgeException');
  const out = JSON.parse(r.body || '{}');
  if (out.FailedEntryCount > 0) {
    throw taskError('EventBridge.FailedEntry', JSON.stringify(out));
  }
  return out;
}

async function sqsSendMessage(input) {
  const req = { ...input };
  if (typeof req.MessageBody !== 'string') req.MessageBody = JSON.stringify(req.MessageBody);
  const r = await awsJSON('AmazonSQS.SendMessage', '1.0', 'sqs', req);
  if (r.status !== 200) throw serviceError(r, 'SQS', 'AmazonSQS', null, 'AmazonSQSException');
  return JSON.parse(r.body || '{}');
}

async function dynamoCall(action, input) {
  const op = upperFirst(action);
  const r = await awsJSON(`DynamoDB_20120810.${op}`, '1.0', 'dynamodb', input);
  if (r.status !== 200) throw serviceError(r, 'DynamoDB', 'AmazonDynamoDBv2', null, 'AmazonDynamoDBException');
  return JSON.parse(r.body || '{}');
}

function taskFunction(ex, resource) {
  if (resource.startsWith('arn:aws:lambda:')) {
    return async (input) => (await invokeLambda(resource, input)).payload;
  }
  const m = /^arn:aws:states:[^:]*:[^:]*:([a-z0-9-]+):([A-Za-z]+)(\.[a-zA-Z0-9:]+)?$/.exec(resource);
  if (!m) return async () => { throw taskError('States.Runtime', `awslocal: unsupported Task resource ${resource}`); };
  const [, service, action, suffix = ''] = m;
  switch (`${service}:${action}${suffix}`) {
    case 'lambda:invoke': return lambdaInvokeIntegration;
    case 'ecs:runTask': return ecsRunTask;
    case 'states:startExecution': return (input) => startExecution(ex, input, '');
    case 'states:startExecution.sync': return (input) => startExecution(ex, input, 'sync');
    case 'states:startExecution.sync:2': return (input) => startExecution(ex, input, 'sync2');
    case 'events:putEvents': return putEvents;
    case 'sqs:sendMessage': return sqsSendMessage;
    default:
      if (service === 'dynamodb' && suffix === '') return (input) => dynamoCall(action, input);
  }
  return async () => { throw taskError('States.Runtime', `awslocal: unsupported Task resource ${resource}`); };
}

// ---- definitions ----
const machines = new Map(); // arn -> {sm, tasks: Map(name -> resource)}

// prepare walks a definition: it clamps Map concurrency as AWS does and
// gives Task states AWS's default timeout; it returns the Task resources by
// state name (the library keys local handlers by state name).
function prepare(def, tasks) {
  for (const [name, st] of Object.entries(def.States || {})) {
    if (st.Type === 'Task') {
      const prev = tasks.get(name);
      if (prev !== undefined && prev !== st.Resource) {
        throw new Error(`Task state name ${name} is used with two resources (${prev}, ${st.Resource}); the local runner needs unique Task names`);
      }
      tasks.set(name, st.Resource);
      if (st.TimeoutSeconds === undefined && st.TimeoutSecondsPath === undefined) st.TimeoutSeconds = TASK_DEFAULT_TIMEOUT;
    } else if (st.Type === 'Map') {
      const proc = st.ItemProcessor || st.Iterator;
      const distributed = proc?.ProcessorConfig?.Mode === 'DISTRIBUTED';
      const mc = st.MaxConcurrency || 0;
      if (!distributed) st.MaxConcurrency = mc === 0 || mc > INLINE_MAX ? INLINE_MAX : mc;
      else if (mc === 0) st.MaxConcurrency = DISTRIBUTED_DEFAULT;
      if (proc) prepare(proc, tasks);
    } else if (st.Type === 'Parallel') {
      for (const b of st.Branches || []) prepare(b, tasks);
    }
  }
}

function define(msg) {
  const def = msg.definition;
  const tasks = new Map();
  prepare(def, tasks);
  // Validation (asl-validator) costs ~1 s per definition: only on request
  // (CreateStateMachine); the repository's files are checked by make asl.
  const validationOptions = msg.validate ? { checkPaths: true, checkArn: true } : { noValidate: true };
  const sm = new StateMachine(def, { validationOptions });
  machines.set(msg.arn, { sm, tasks });
}

// ---- executions ----
const executions = new Map(); // arn -> ex
const finished = new Set();
const waiters = new Map(); // arn -> [resolve]

function waitFor(arn) {
  if (finished.has(arn)) return Promise.resolve();
  return new Promise((resolve) => {
    const list = waiters.get(arn) || [];
    list.push(resolve);
    waiters.set(arn, list);
  });
}

function failData(ex, what) {
  if (ex.failure) return;
  ex.failure = { error: 'States.DataLimitExceeded', cause: `The state/task '${what}' returned a result with a size exceeding the maximum number of bytes service limit.` };
  ex.abort();
}

async function consume(ex, logs) {
  for await (const e of logs) {
    const h = { ev: 'h', arn: ex.arn };
    switch (e.type) {
      case 'StateEntered':
        h.t = `${e.state.type}StateEntered`;
        h.s = e.state.name;
        if (byteSize(e.state.input) > DATA_LIMIT) failData(ex, e.state.name);
        break;
      case 'StateExited':
        h.t = `${e.state.type}StateExited`;
        h.s = e.state.name;
        if (byteSize(e.state.output) > DATA_LIMIT) failData(ex, e.state.name);
        break;
      case 'StateFailed':
        h.t = e.state.type === 'Task' ? 'TaskFailed' : `${e.state.type}StateFailed`;
        h.s = e.state.name; h.err = e.Error; h.cause = String(e.Cause ?? '');
        break;
      case 'StateRetried':
        h.t = 'TaskScheduled'; h.s = e.state.name; h.retry = true;
        break;
      case 'StateCaught':
        h.t = 'StateCaught'; h.s = e.state.name;
        break;
      case 'MapIterationStarted': case 'MapIterationSucceeded': case 'MapIterationFailed':
        h.t = e.type; h.s = e.parentState.name; h.i = e.index;
        if (e.Error) { h.err = e.Error; h.cause = String(e.Cause ?? ''); }
        break;
      case 'ParallelBranchStarted': case 'ParallelBranchSucceeded': case 'ParallelBranchFailed':
        h.t = e.type; h.s = e.parentState.name;
        break;
      default:
        continue; // execution-level events: Go records them from "done"
    }
    if (e.index !== undefined && h.i === undefined) h.i = e.index;
    send(h);
  }
}

function start(msg) {
  const m = machines.get(msg.machine);
  if (!m) {
    send({ ev: 'done', arn: msg.arn, status: 'FAILED', error: 'States.Runtime', cause: `state machine ${msg.machine} is not defined in the runner` });
    return;
  }
  const ex = { arn: msg.arn, failure: null, stopped: false, children: new Set(), abort: () => {} };
  const handlers = {};
  for (const [name, resource] of m.tasks) {
    const fn = taskFunction(ex, resource);
    handlers[name] = async (input) => {
      if (ex.failure || ex.stopped) return new Promise(() => {}); // the execution is ending: never call out
      const out = await fn(input);
      if (byteSize(out) > DATA_LIMIT) failData(ex, name);
      return out;
    };
  }
  const run = m.sm.run(msg.input, { overrides: { taskResourceLocalHandlers: handlers }, context: msg.context, noThrowOnAbort: true });
  ex.abort = run.abort;
  executions.set(ex.arn, ex);
  // The history must be complete before the end is reported: finish waits
  // for the event log to close (bounded, in case a path never closes it).
  const consumed = consume(ex, run.eventLogs).catch(() => {});
  const drained = () => Promise.race([consumed, new Promise((resolve) => realSetTimeout(resolve, 2000))]);
  run.result.then(
    async (out) => {
      await drained();
      return out;
    },
    async (err) => {
      await drained();
      throw err;
    },
  ).then(
    (out) => {
      if (ex.failure) return finish(ex, { status: 'FAILED', error: ex.failure.error, cause: ex.failure.cause });
      if (ex.stopped) return finish(ex, { status: 'ABORTED' });
      if (byteSize(out) > DATA_LIMIT) {
        return finish(ex, { status: 'FAILED', error: 'States.DataLimitExceeded', cause: 'The execution output exceeds the maximum number of bytes service limit.' });
      }
      return finish(ex, { status: 'SUCCEEDED', output: out });
    },
    (err) => {
      if (ex.failure) return finish(ex, { status: 'FAILED', error: ex.failure.error, cause: ex.failure.cause });
      if (err instanceof ExecutionAbortedError || ex.stopped) return finish(ex, { status: 'ABORTED' });
      if (err instanceof ExecutionTimeoutError) return finish(ex, { status: 'TIMED_OUT', error: 'States.Timeout', cause: '' });
      const c = err instanceof ExecutionError && err.cause ? err.cause : err;
      return finish(ex, { status: 'FAILED', error: c.name || 'States.Runtime', cause: String(c.message ?? '') });
    },
  );
}

function finish(ex, r) {
  executions.delete(ex.arn);
  for (const child of ex.children) sfnCall('StopExecution', { executionArn: child }).catch(() => {});
  send({ ev: 'done', arn: ex.arn, ...r });
  finished.add(ex.arn);
  const list = waiters.get(ex.arn);
  if (list) {
    waiters.delete(ex.arn);
    for (const resolve of list) resolve();
  }
}

function stop(msg) {
  const ex = executions.get(msg.arn);
  if (!ex) return;
  ex.stopped = true;
  ex.abort();
}

// One failing execution must not take the others down: Node would exit on
// an unhandled rejection.
process.on('unhandledRejection', (e) => process.stderr.write(`runner: unhandled rejection: ${e?.stack || e}\n`));
process.on('uncaughtException', (e) => process.stderr.write(`runner: uncaught exception: ${e?.stack || e}\n`));

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (line.trim() === '') return;
  let msg;
  try { msg = JSON.parse(line); } catch (e) { process.stderr.write(`runner: bad message: ${e.message}\n`); return; }
  try {
    switch (msg.op) {
      case 'define': define(msg); send({ ev: 'reply', req: msg.req }); break;
      case 'start': start(msg); break;
      case 'stop': stop(msg); break;
      default: throw new Error(`unknown op ${msg.op}`);
    }
  } catch (e) {
    if (msg.req !== undefined) send({ ev: 'reply', req: msg.req, error: String(e.message || e) });
    else process.stderr.write(`runner: ${msg.op}: ${e.stack || e}\n`);
  }
});
rl.on('close', () => { flush(); process.exit(0); });
send({ ev: 'ready' });
