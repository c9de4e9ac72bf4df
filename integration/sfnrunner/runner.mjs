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
// A DISTRIBUTED Map runs each item as a child execution of its ItemProcessor
// with its own ARN and history, inside a Map Run that counts the children
// and fails the Map with States.ExceedToleratedFailureThreshold past the
// tolerated failures, aborting the children still running. An execution whose
// history reaches the limit fails with States.Runtime. Wait states end a
// seeded random lateness after their time, as on AWS. JSONPath '$' on a falsy
// value (0, false, "", null) yields that value, as on AWS (jsonpath-plus
// returns nothing for it).
//
// A .waitForTaskToken Task (sqs:sendMessage, events:putEvents, lambda:invoke
// asynchronously, states:startExecution) gets a fresh opaque token per attempt
// where its Parameters read $$.Task.Token, calls the integration and parks
// until Go relays SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat
// ("answer"), TimeoutSeconds(Path) passes (States.Timeout), or
// HeartbeatSeconds(Path) pass without a heartbeat (States.HeartbeatTimeout).
// A token ends with its attempt and with its execution.
//
// Protocol (newline-delimited JSON):
//   stdin  {"op":"define","req":n,"arn":…,"definition":{…},"validate":bool}
//          {"op":"start","arn":execArn,"machine":smArn,"input":…,"context":{…}}
//          {"op":"stop","arn":execArn}
//          {"op":"answer","req":n,"kind":"success"|"failure"|"heartbeat",
//           "token":…,"output":jsonText,"error":…,"cause":…}
//   stdout {"ev":"ready"} | {"ev":"reply","req":n,"error":…,"code":…}
//          (code: the API error of a refused answer, InvalidToken or
//           TaskTimedOut)
//          {"ev":"h","arn":…,"t":type,"s":state,"i":index,"err":…,"cause":…}
//          {"ev":"done","arn":…,"status":…,"output":…,"error":…,"cause":…}
//          {"ev":"maprun","arn":mapRunArn,"parent":execArn,"s":state,
//           "machine":childMachineArn,"total":n,"tp":pct,"tc":count,
//           "mc":maxConcurrency,"status":RUNNING|SUCCEEDED|FAILED|ABORTED}
//          {"ev":"child","arn":childArn,"parent":execArn,"mapRun":…,
//           "machine":…,"name":…,"input":…}  (before the child's events)
//
// Environment: TH_SFN_ENDPOINT (http://127.0.0.1:PORT, the edge),
// TH_TIME_SCALE (k, default 1), AWS_REGION, TH_SFN_DISTRIBUTED (0: run a
// DISTRIBUTED Map inline), TH_SFN_HISTORY_LIMIT (events, 0: none),
// TH_SFN_WAIT_LATE_MS (most simulated ms a Wait ends late, 0: none),
// TH_SFN_SEED (the lateness draws), TH_SFN_HEARTBEAT (0: ignore
// HeartbeatSeconds).

import http from 'node:http';
import readline from 'node:readline';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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
const { JSONPath } = await import('jsonpath-plus');

// jsonpath-plus answers nothing for any path on a falsy document, so '$' on
// an item 0 is "not a value" to the library; AWS reads it as the number.
const jsonPathEvaluate = JSONPath.prototype.evaluate;
JSONPath.prototype.evaluate = function evaluateFalsy(expr, ...rest) {
  if (expr && typeof expr === 'object' && !Array.isArray(expr) && expr.path === '$'
    && Object.hasOwn(expr, 'json') && expr.json !== undefined && !expr.json) {
    const wrap = Object.hasOwn(expr, 'wrap') ? expr.wrap : this.wrap;
    return wrap ? [expr.json] : expr.json;
  }
  return jsonPathEvaluate.call(this, expr, ...rest);
};

const ENDPOINT = new URL(process.env.TH_SFN_ENDPOINT || 'http://127.0.0.1:4566');
const REGION = process.env.AWS_REGION || 'us-east-1';
const DATA_LIMIT = 256 * 1024; // bytes, UTF-8
const INLINE_MAX = 40;
const DISTRIBUTED_DEFAULT = 10000;
const TASK_DEFAULT_TIMEOUT = 99999999; // seconds, AWS's default for Task states
const DISTRIBUTED = process.env.TH_SFN_DISTRIBUTED !== '0';
const HISTORY_LIMIT = Math.max(0, Number(process.env.TH_SFN_HISTORY_LIMIT || '0'));
const WAIT_LATE_MS = Math.max(0, Number(process.env.TH_SFN_WAIT_LATE_MS || '0'));
const HEARTBEAT = process.env.TH_SFN_HEARTBEAT !== '0';
// Runner-made states: a DISTRIBUTED Map's item slot and a Wait's lateness.
// They never show in a history.
const SLOT = '\u0000item:';
const LATE = '\u0000late:';

// mulberry32: the seeded draws of the Wait lateness.
let seed = (Number(process.env.TH_SFN_SEED || '1') >>> 0) || 1;
function random() {
  seed = (seed + 0x6D2B79F5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

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
  // Each Invoke error code is its own SDK exception: Lambda.<code>.
  if (r.status >= 500) throw serviceError(r, 'Lambda', 'AWSLambda', null, 'ServiceException');
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

// lambdaInvokeAsync queues the invocation (InvocationType Event unless the
// Parameters say otherwise): the function answers with the task token.
async function lambdaInvokeAsync(input) {
  if (!input || typeof input !== 'object' || !input.FunctionName) {
    throw taskError('States.Runtime', 'lambda:invoke needs Parameters.FunctionName');
  }
  const type = input.InvocationType || 'Event';
  if (type === 'RequestResponse') {
    await invokeLambda(input.FunctionName, input.Payload);
    return {};
  }
  let r;
  try {
    r = await post(`/2015-03-31/functions/${encodeURIComponent(String(input.FunctionName))}/invocations`,
      { 'Content-Type': 'application/json', 'X-Amz-Invocation-Type': type },
      JSON.stringify(input.Payload === undefined ? {} : input.Payload));
  } catch (e) {
    throw taskError('Lambda.SdkClientException', `Unable to execute HTTP request: ${e.message}`);
  }
  if (r.status >= 200 && r.status < 300) return {};
  if (r.status === 429) throw serviceError(r, 'Lambda', 'AWSLambda', null, 'TooManyRequestsException');
  if (r.status >= 500) throw serviceError(r, 'Lambda', 'AWSLambda', null, 'ServiceException');
  throw serviceError(r, 'Lambda', 'AWSLambda', null, 'AWSLambdaException');
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
    case 'lambda:invoke.waitForTaskToken': return lambdaInvokeAsync;
    case 'states:startExecution.waitForTaskToken': return (input) => startExecution(ex, input, '');
    case 'events:putEvents.waitForTaskToken': return putEvents;
    case 'sqs:sendMessage.waitForTaskToken': return sqsSendMessage;
    default:
      if (service === 'dynamodb' && suffix === '') return (input) => dynamoCall(action, input);
  }
  return async () => { throw taskError('States.Runtime', `awslocal: unsupported Task resource ${resource}`); };
}

// ---- definitions ----
const machines = new Map(); // arn -> {sm, tasks: Map(name -> resource | runner-made handler spec)}

// prepare walks a definition: it clamps Map concurrency as AWS does, gives
// Task states AWS's default timeout, turns each DISTRIBUTED Map's
// ItemProcessor into a child machine and each Wait into a Wait plus a
// lateness state; it returns the Task resources by state name (the library
// keys local handlers by state name). arn names the machine (child machines
// are arn/Label).
function prepare(def, tasks, arn) {
  for (const [name, st] of Object.entries(def.States || {})) {
    if (st.Type === 'Task') {
      const prev = tasks.get(name);
      const prevResource = typeof prev === 'object' ? prev.callback?.resource : prev;
      if (prev !== undefined && prevResource !== st.Resource) {
        throw new Error(`Task state name ${name} is used with two resources (${prevResource}, ${st.Resource}); the local runner needs unique Task names`);
      }
      tasks.set(name, isCallback(st.Resource) ? { callback: prepareCallback(st) } : st.Resource);
      if (st.TimeoutSeconds === undefined && st.TimeoutSecondsPath === undefined) st.TimeoutSeconds = TASK_DEFAULT_TIMEOUT;
    } else if (st.Type === 'Map') {
      prepareMap(name, st, tasks, arn);
    } else if (st.Type === 'Parallel') {
      for (const b of st.Branches || []) prepare(b, tasks, arn);
    } else if (st.Type === 'Wait' && WAIT_LATE_MS > 0) {
      addLateness(def, name, st, tasks);
    }
  }
}

function isCallback(resource) {
  return typeof resource === 'string' && resource.startsWith('arn:aws:states:') && resource.endsWith('.waitForTaskToken');
}

// prepareCallback readies a .waitForTaskToken Task: the library knows no
// $$.Task.Token, so each reference in Parameters (a whole path or an
// intrinsic function's argument) becomes TOKEN_HOLE, which the task handler
// replaces with the attempt's token. The handler keeps TimeoutSeconds itself
// (the library's timer could not end the token) and HeartbeatSeconds.
function prepareCallback(st) {
  if (st.Parameters !== undefined) st.Parameters = withTokenHole(st.Parameters);
  const spec = { resource: st.Resource, timeout: 0, heartbeat: Number(st.HeartbeatSeconds) || 0, paths: false };
  if (st.TimeoutSeconds !== undefined) spec.timeout = Number(st.TimeoutSeconds);
  if (st.TimeoutSecondsPath !== undefined || st.HeartbeatSecondsPath !== undefined) {
    // The handler sees only the processed input: Parameters carry the
    // paths' values to it next to the task's own input.
    spec.paths = true;
    const wrapped = st.Parameters === undefined ? { 'p.$': '$' } : { p: st.Parameters };
    if (st.TimeoutSecondsPath !== undefined) wrapped['t.$'] = st.TimeoutSecondsPath;
    if (st.HeartbeatSecondsPath !== undefined) wrapped['h.$'] = st.HeartbeatSecondsPath;
    st.Parameters = wrapped;
    delete st.TimeoutSecondsPath;
    delete st.HeartbeatSecondsPath;
  }
  st.TimeoutSeconds = TASK_DEFAULT_TIMEOUT;
  return spec;
}

// attemptSpec reads an attempt's TimeoutSecondsPath / HeartbeatSecondsPath
// values (positive integers, as AWS requires) out of the wrapped input.
function attemptSpec(spec, input) {
  if (!spec.paths) return { spec, input };
  const s = { ...spec };
  for (const [k, field] of [['t', 'timeout'], ['h', 'heartbeat']]) {
    if (input[k] === undefined) continue;
    if (!Number.isInteger(input[k]) || input[k] < 1) {
      throw taskError('States.Runtime', `The value of ${field === 'timeout' ? 'TimeoutSecondsPath' : 'HeartbeatSecondsPath'} must be a positive integer, got ${JSON.stringify(input[k])}`);
    }
    s[field] = input[k];
  }
  return { spec: s, input: input.p };
}

function withTokenHole(v) {
  if (Array.isArray(v)) return v.map(withTokenHole);
  if (!v || typeof v !== 'object') return v;
  const o = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.endsWith('.$') && x === '$$.Task.Token') o[k.slice(0, -2)] = TOKEN_HOLE;
    else if (k.endsWith('.$') && typeof x === 'string' && x.startsWith('States.')) o[k] = x.replaceAll('$$.Task.Token', `'${TOKEN_HOLE}'`);
    else o[k] = withTokenHole(x);
  }
  return o;
}

function prepareMap(name, st, tasks, arn) {
  const proc = st.ItemProcessor || st.Iterator;
  const distributed = proc?.ProcessorConfig?.Mode === 'DISTRIBUTED';
  const mc = st.MaxConcurrency || 0;
  if (!distributed) st.MaxConcurrency = mc === 0 || mc > INLINE_MAX ? INLINE_MAX : mc;
  else if (mc === 0) st.MaxConcurrency = DISTRIBUTED_DEFAULT;
  if (!proc) return;
  if (distributed && DISTRIBUTED) distribute(name, st, proc, tasks, arn);
  else prepare(proc, tasks, arn);
}

// addLateness sends a Wait state through a pass-through Task that sleeps a
// seeded random part of WAIT_LATE_MS: AWS ends Wait states late.
function addLateness(def, name, st, tasks) {
  const late = `${LATE}${name}`;
  const next = { Type: 'Task', Resource: 'arn:aws:states:::awslocal:late', TimeoutSeconds: TASK_DEFAULT_TIMEOUT };
  if (st.End) next.End = true;
  else next.Next = st.Next;
  delete st.End;
  st.Next = late;
  def.States[late] = next;
  tasks.set(late, { late: true });
}

// distribute makes the Map's ItemProcessor a child machine and leaves the
// library's Map one runner-made Task per item that runs the item as a child
// execution. The ItemSelector is wrapped to hand that Task the item's input,
// index, the item count and the tolerance paths, all read where AWS reads them.
function distribute(name, st, proc, tasks, arn) {
  const label = String(st.Label || name).replace(/[^A-Za-z0-9_-]/g, '_');
  const childDef = { ...proc };
  delete childDef.ProcessorConfig;
  const childArn = `${arn}/${label}`;
  const childTasks = new Map();
  prepare(childDef, childTasks, childArn);
  const child = { sm: new StateMachine(childDef, { validationOptions: { noValidate: true } }), tasks: childTasks };
  const sel = st.ItemSelector ?? st.Parameters;
  const wrapped = { 'i.$': '$$.Map.Item.Index', 'n.$': `States.ArrayLength(${st.ItemsPath || '$'})` };
  if (sel === undefined) wrapped['v.$'] = '$$.Map.Item.Value';
  else wrapped.v = sel;
  if (st.ToleratedFailurePercentagePath) wrapped['p.$'] = st.ToleratedFailurePercentagePath;
  if (st.ToleratedFailureCountPath) wrapped['c.$'] = st.ToleratedFailureCountPath;
  delete st.Parameters;
  delete st.Iterator;
  st.ItemSelector = wrapped;
  const slot = `${SLOT}${name}`;
  st.ItemProcessor = {
    StartAt: slot,
    States: { [slot]: { Type: 'Task', Resource: 'arn:aws:states:::awslocal:mapItem', TimeoutSeconds: TASK_DEFAULT_TIMEOUT, End: true } },
  };
  tasks.set(slot, {
    distributed: {
      state: name, child, childArn, tp: st.ToleratedFailurePercentage, tc: st.ToleratedFailureCount, mc: st.MaxConcurrency,
    },
  });
}

function define(msg) {
  // Validation (asl-validator) costs ~1 s per definition: only on request
  // (CreateStateMachine); the repository's files are checked by make asl.
  // It reads the definition as written, before prepare rewrites it.
  if (msg.validate) new StateMachine(structuredClone(msg.definition), { validationOptions: { checkPaths: true, checkArn: true } });
  const def = msg.definition;
  const tasks = new Map();
  prepare(def, tasks, msg.arn);
  const sm = new StateMachine(def, { validationOptions: { noValidate: true } });
  machines.set(msg.arn, { sm, tasks });
}

// ---- task tokens (.waitForTaskToken) ----
// A token is base64 of TOKEN_BYTES: random bytes (byte 0 the version) and an
// HMAC of them under a key of this process, so a token cannot be derived from
// an execution's ARN or forged: a token that fails the check is InvalidToken;
// a genuine one that is no longer live (answered, timed out, its execution
// ended) is TaskTimedOut, as the Step Functions API answers.
const TOKEN_KEY = randomBytes(32);
const TOKEN_BYTES = 480; // 640 characters, within the API's 2,048
const TOKEN_MAC = 32;
const TOKEN_HOLE = `awslocalTaskToken${randomBytes(12).toString('hex')}`;
const liveTokens = new Map(); // token -> task

function newToken() {
  const body = randomBytes(TOKEN_BYTES - TOKEN_MAC);
  body[0] = 1;
  const mac = createHmac('sha256', TOKEN_KEY).update(body).digest();
  return Buffer.concat([body, mac]).toString('base64');
}

function genuineToken(token) {
  if (typeof token !== 'string') return false;
  const b = Buffer.from(token, 'base64');
  if (b.length !== TOKEN_BYTES || b.toString('base64') !== token || b[0] !== 1) return false;
  const body = b.subarray(0, TOKEN_BYTES - TOKEN_MAC);
  const mac = createHmac('sha256', TOKEN_KEY).update(body).digest();
  return timingSafeEqual(mac, b.subarray(TOKEN_BYTES - TOKEN_MAC));
}

// withToken puts the attempt's token where Parameters referenced it.
function withToken(input, token) {
  if (input === undefined) return input;
  const s = JSON.stringify(input);
  return s.includes(TOKEN_HOLE) ? JSON.parse(s.replaceAll(TOKEN_HOLE, token)) : input;
}

// settle ends a parked task once: err fails it, else out is its result.
function settle(t, err, out) {
  if (!kill(t)) return;
  if (err) t.reject(err);
  else t.resolve(out);
}

// kill ends a token; the task's promise is left pending (its execution is
// ending and must not record a failure of it).
function kill(t) {
  if (t.done) return false;
  t.done = true;
  clearTimeout(t.timeout);
  clearTimeout(t.heartbeat);
  liveTokens.delete(t.token);
  t.ex.tokens.delete(t);
  return true;
}

function armHeartbeat(t) {
  if (t.done || !HEARTBEAT || !(t.spec.heartbeat > 0)) return;
  clearTimeout(t.heartbeat);
  t.heartbeat = setTimeout(() => settle(t, taskError('States.HeartbeatTimeout', '')), t.spec.heartbeat * 1000);
}

// callbackTask runs one attempt of a .waitForTaskToken Task: it issues a
// token, calls the integration with it and parks until SendTask* answers,
// TimeoutSeconds passes, or HeartbeatSeconds pass without a heartbeat (the
// heartbeat clock starts once the integration has been called).
function callbackTask(ex, taskSpec, call, taskInput) {
  const { spec, input } = attemptSpec(taskSpec, taskInput);
  const { promise, resolve, reject } = Promise.withResolvers();
  const t = { token: newToken(), ex, spec, resolve, reject, done: false, timeout: null, heartbeat: null, armed: false };
  liveTokens.set(t.token, t);
  ex.tokens.add(t);
  if (spec.timeout > 0) t.timeout = setTimeout(() => settle(t, taskError('States.Timeout', '')), spec.timeout * 1000);
  Promise.resolve().then(() => call(withToken(input, t.token))).then(
    () => { t.armed = true; armHeartbeat(t); },
    (e) => settle(t, e),
  );
  return promise;
}

// endTokens kills the tokens of an execution that stops or fails.
function endTokens(ex) {
  for (const t of [...ex.tokens]) kill(t);
}

const TIMED_OUT = { code: 'TaskTimedOut', message: "Task Timed Out: 'Provided task does not exist anymore'" };

// answer applies SendTaskSuccess (output: JSON text), SendTaskFailure or
// SendTaskHeartbeat to a parked task; it returns the API error, if any.
function answer(msg) {
  if (!genuineToken(msg.token)) return { code: 'InvalidToken', message: "Invalid Token: 'Invalid token'" };
  const t = liveTokens.get(msg.token);
  if (!t || t.done) return TIMED_OUT;
  switch (msg.kind) {
    case 'success': settle(t, null, JSON.parse(msg.output)); break;
    case 'failure': settle(t, taskError(msg.error ?? '', msg.cause ?? '')); break;
    case 'heartbeat': if (t.armed) armHeartbeat(t); break;
    default: throw new Error(`unknown answer ${msg.kind}`);
  }
  return null;
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
  endTokens(ex);
}

function failHistory(ex) {
  if (ex.failure) return;
  ex.failure = { error: 'States.Runtime', cause: `The execution reached the maximum number of history events (${HISTORY_LIMIT}).` };
  ex.abort();
  endTokens(ex);
}

// hidden reports whether a library event has no place in an AWS history:
// the runner-made states, and a DISTRIBUTED Map's iterations (its items are
// child executions with histories of their own).
function hidden(ex, e) {
  const name = e.state?.name;
  if (typeof name === 'string' && (name.startsWith(SLOT) || name.startsWith(LATE))) return true;
  return e.parentState !== undefined && ex.distributedMaps.has(e.parentState.name);
}

function historyEvent(ex, e) {
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
      h.t = e.state.type === 'Task' ? taskFailedType(e.Error) : `${e.state.type}StateFailed`;
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
      return null; // execution-level events: Go records them from "done"
  }
  if (e.index !== undefined && h.i === undefined) h.i = e.index;
  return h;
}

// taskFailedType: a Task that times out (TimeoutSeconds, HeartbeatSeconds)
// records TaskTimedOut on AWS, any other failure TaskFailed.
function taskFailedType(error) {
  return error === 'States.Timeout' || error === 'States.HeartbeatTimeout' ? 'TaskTimedOut' : 'TaskFailed';
}

// record sends a history event unless the history is full: at the limit the
// execution fails (Go adds a TaskScheduled to each TaskStateEntered, and the
// end event takes the last place).
function record(ex, h) {
  const cost = h.t === 'TaskStateEntered' ? 2 : 1;
  if (HISTORY_LIMIT > 0) {
    if (ex.full) return;
    if (ex.events + cost >= HISTORY_LIMIT) {
      ex.full = true;
      failHistory(ex);
      return;
    }
  }
  ex.events += cost;
  send(h);
}

async function consume(ex, logs) {
  for await (const e of logs) {
    if (hidden(ex, e)) continue;
    const h = historyEvent(ex, e);
    if (h) record(ex, h);
  }
}

function start(msg) {
  const m = machines.get(msg.machine);
  if (!m) {
    send({ ev: 'done', arn: msg.arn, status: 'FAILED', error: 'States.Runtime', cause: `state machine ${msg.machine} is not defined in the runner` });
    return;
  }
  runExecution(msg.arn, m, msg.input, msg.context);
}

// lateness passes its input through after a seeded random part of
// WAIT_LATE_MS (setTimeout is scaled: simulated milliseconds).
async function lateness(input) {
  await new Promise((resolve) => setTimeout(resolve, random() * WAIT_LATE_MS));
  return input;
}

function taskHandler(ex, spec) {
  if (typeof spec === 'string') return taskFunction(ex, spec);
  if (spec.late) return lateness;
  if (spec.callback) {
    const call = taskFunction(ex, spec.callback.resource);
    return (input) => callbackTask(ex, spec.callback, call, input);
  }
  return (input) => mapItem(ex, spec.distributed, input);
}

function newExecution(arn, m, context) {
  const distributedMaps = new Set();
  for (const spec of m.tasks.values()) if (spec.distributed) distributedMaps.add(spec.distributed.state);
  return {
    arn, context, failure: null, stopped: false, children: new Set(), mapChildren: new Set(), mapRuns: new Map(), tokens: new Set(),
    distributedMaps, events: 1, full: false, abort: () => {}, ended: Promise.withResolvers(),
  };
}

function runExecution(arn, m, input, context) {
  const ex = newExecution(arn, m, context);
  const handlers = {};
  for (const [name, spec] of m.tasks) {
    const fn = taskHandler(ex, spec);
    handlers[name] = async (input) => {
      if (ex.failure || ex.stopped) return new Promise(() => {}); // the execution is ending: never call out
      const out = await fn(input);
      if (byteSize(out) > DATA_LIMIT) failData(ex, name);
      return out;
    };
  }
  const run = m.sm.run(input, { overrides: { taskResourceLocalHandlers: handlers }, context, noThrowOnAbort: true });
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
  ).then((out) => finishOK(ex, out), (err) => finishErr(ex, err));
  return ex;
}

function finishOK(ex, out) {
  if (ex.failure) return finish(ex, { status: 'FAILED', error: ex.failure.error, cause: ex.failure.cause });
  if (ex.stopped) return finish(ex, { status: 'ABORTED' });
  if (byteSize(out) > DATA_LIMIT) {
    return finish(ex, { status: 'FAILED', error: 'States.DataLimitExceeded', cause: 'The execution output exceeds the maximum number of bytes service limit.' });
  }
  return finish(ex, { status: 'SUCCEEDED', output: out });
}

function finishErr(ex, err) {
  if (ex.failure) return finish(ex, { status: 'FAILED', error: ex.failure.error, cause: ex.failure.cause });
  if (err instanceof ExecutionAbortedError || ex.stopped) return finish(ex, { status: 'ABORTED' });
  if (err instanceof ExecutionTimeoutError) return finish(ex, { status: 'TIMED_OUT', error: 'States.Timeout', cause: '' });
  const c = err instanceof ExecutionError && err.cause ? err.cause : err;
  return finish(ex, { status: 'FAILED', error: c.name || 'States.Runtime', cause: String(c.message ?? '') });
}

function finish(ex, r) {
  executions.delete(ex.arn);
  endTokens(ex);
  for (const child of ex.children) sfnCall('StopExecution', { executionArn: child }).catch(() => {});
  for (const child of ex.mapChildren) stopLocal(child);
  for (const run of ex.mapRuns.values()) endMapRun(run, 'ABORTED');
  send({ ev: 'done', arn: ex.arn, ...r });
  finished.add(ex.arn);
  ex.ended.resolve(r);
  const list = waiters.get(ex.arn);
  if (list) {
    waiters.delete(ex.arn);
    for (const resolve of list) resolve();
  }
}

function stopLocal(ex) {
  ex.stopped = true;
  ex.abort();
  endTokens(ex);
}

function stop(msg) {
  const ex = executions.get(msg.arn);
  if (ex) stopLocal(ex);
}

// ---- DISTRIBUTED Map: Map Runs and child executions ----

// mapRunFor returns the Map Run an item belongs to: item 0 opens a new one
// (the library starts the items in order), the others join it.
function mapRunFor(ex, d, input) {
  const cur = ex.mapRuns.get(d.state);
  if (cur && !(input.i === 0 && cur.started > 0)) return cur;
  const run = {
    ex, arn: `${d.childArn.replace(':stateMachine:', ':mapRun:')}:${crypto.randomUUID()}`, state: d.state,
    machine: d.childArn, execPrefix: d.childArn.replace(':stateMachine:', ':execution:'),
    total: Number(input.n) || 0, tp: input.p === undefined ? d.tp : Number(input.p),
    tc: input.c === undefined ? d.tc : Number(input.c), mc: d.mc,
    started: 0, succeeded: 0, failed: 0, timedOut: 0, aborted: 0, running: new Set(), over: false, status: 'RUNNING',
  };
  ex.mapRuns.set(d.state, run);
  sendMapRun(run);
  record(ex, { ev: 'h', arn: ex.arn, t: 'MapRunStarted', s: d.state });
  return run;
}

function sendMapRun(run) {
  send({
    ev: 'maprun', arn: run.arn, parent: run.ex.arn, s: run.state, machine: run.machine, total: run.total,
    tp: run.tp, tc: run.tc, mc: run.mc, status: run.status,
  });
}

function endMapRun(run, status) {
  if (run.status !== 'RUNNING') return;
  run.status = status;
  sendMapRun(run);
  const t = { SUCCEEDED: 'MapRunSucceeded', FAILED: 'MapRunFailed', ABORTED: 'MapRunAborted' }[status];
  record(run.ex, { ev: 'h', arn: run.ex.arn, t, s: run.state });
}

// exceeded applies the Map Run's tolerance to the failed and timed-out
// children: without one, any fails it; with a percentage (of all items)
// and/or a count, exceeding either does.
function exceeded(run) {
  const failures = run.failed + run.timedOut;
  const hasP = run.tp !== undefined && run.tp !== null;
  const hasC = run.tc !== undefined && run.tc !== null;
  if (!hasP && !hasC) return failures > 0;
  return (hasP && failures * 100 > Number(run.tp) * run.total) || (hasC && failures > Number(run.tc));
}

function thresholdError() {
  return taskError('States.ExceedToleratedFailureThreshold', 'The specified tolerated failure threshold was exceeded');
}

function countChild(run, r) {
  switch (r.status) {
    case 'SUCCEEDED': run.succeeded++; break;
    case 'TIMED_OUT': run.timedOut++; break;
    case 'ABORTED': run.aborted++; break;
    default: run.failed++;
  }
}

function startChild(ex, run, item) {
  const name = crypto.randomUUID();
  const arn = `${run.execPrefix}:${name}`;
  send({ ev: 'child', arn, parent: ex.arn, mapRun: run.arn, machine: run.machine, name, input: item });
  const context = {
    Execution: { Id: arn, Name: name, RoleArn: ex.context?.Execution?.RoleArn },
    StateMachine: { Id: run.machine, Name: run.machine.slice(run.machine.lastIndexOf(':') + 1) },
  };
  return context;
}

// mapItem runs one item of a DISTRIBUTED Map as a child execution and
// returns its output; a failed child within the tolerance yields its Error
// and Cause, past it the Map Run fails and aborts the children still running.
async function mapItem(ex, d, input) {
  const run = mapRunFor(ex, d, input);
  if (run.over || run.status !== 'RUNNING') throw thresholdError();
  run.started++;
  const item = input.v;
  const context = startChild(ex, run, item);
  const child = runExecution(context.Execution.Id, d.child, item, context);
  run.running.add(child);
  ex.mapChildren.add(child);
  const r = await child.ended.promise;
  run.running.delete(child);
  ex.mapChildren.delete(child);
  countChild(run, r);
  if (r.status !== 'SUCCEEDED' && !run.over && exceeded(run)) {
    run.over = true;
    for (const c of run.running) stopLocal(c);
    endMapRun(run, 'FAILED');
  }
  if (run.over) throw thresholdError();
  if (run.succeeded + run.failed + run.timedOut + run.aborted >= run.total) endMapRun(run, 'SUCCEEDED');
  return r.status === 'SUCCEEDED' ? r.output : { Error: r.error ?? null, Cause: r.cause ?? null };
}

function answerReply(e) {
  return e ? { code: e.code, error: e.message } : {};
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
      case 'answer': send({ ev: 'reply', req: msg.req, ...answerReply(answer(msg)) }); break;
      default: throw new Error(`unknown op ${msg.op}`);
    }
  } catch (e) {
    if (msg.req !== undefined) send({ ev: 'reply', req: msg.req, error: String(e.message || e) });
    else process.stderr.write(`runner: ${msg.op}: ${e.stack || e}\n`);
  }
});
rl.on('close', () => { flush(); process.exit(0); });
send({ ev: 'ready' });
