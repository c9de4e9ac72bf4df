// flow.mjs runs a state machine definition in aws-local-stepfunctions with
// scripted Lambda answers, for statemachines/flow_test.go. It reads on stdin
//   {"definition": {...}, "jobs": [{"input": {...},
//    "script": {"<function>[#<chunk>]": [{"payload": ...} | {"error": "Name", "cause": "..."}]}}, ...]}
// runs the jobs concurrently and prints one JSON array of results, in order.
// Each Task call takes the next answer of "<function>#<chunk>" if scripted,
// else of "<function>"; the last answer of a list repeats. Timers (Wait,
// Retry intervals) run timeScale times faster, as in the local runner.
// Each result is {"status","output"|"error","cause","calls":[{state,fn,payload}],"entered":{state:n}}.
const scale = Number(process.env.FLOW_TIME_SCALE || 1000);
const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = (fn, ms, ...args) => realSetTimeout(fn, (ms || 0) / scale, ...args);

const { StateMachine } = await import('aws-local-stepfunctions');

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { definition, jobs } = JSON.parse(raw);

function taskStates(states, out) {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === 'Task') out.push(name);
    if (s.ItemProcessor) taskStates(s.ItemProcessor.States, out);
    if (s.Iterator) taskStates(s.Iterator.States, out);
  }
  return out;
}
const tasks = taskStates(definition.States, []);
const FLOW_EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:launch:flow';
const sm = new StateMachine(definition, { validationOptions: { checkPaths: true, checkArn: true } });

async function runJob(job) {
  const queues = {};
  for (const [k, v] of Object.entries(job.script || {})) queues[k] = [...v];
  const answer = (key) => {
    const q = queues[key];
    if (!q || q.length === 0) return undefined;
    return q.length > 1 ? q.shift() : q[0];
  };
  const calls = [];
  const handlers = {};
  for (const name of tasks) {
    handlers[name] = async (input) => {
      const fn = String(input.FunctionName).split(':').pop();
      const payload = input.Payload;
      calls.push({ state: name, fn, payload });
      const chunk = payload && payload.chunk !== undefined ? `#${payload.chunk}` : '';
      const a = answer(fn + chunk) ?? answer(fn);
      if (a === undefined) throw Object.assign(new Error(`no scripted answer for ${fn}${chunk}`), { name: 'NoScript' });
      if (a.error) throw Object.assign(new Error(a.cause ?? ''), { name: a.error });
      return { Payload: a.payload, StatusCode: 200 };
    };
  }
  // The context object as Step Functions gives it: plan reads $$.Execution.Id.
  const context = { Execution: { Id: FLOW_EXECUTION, Name: 'flow' } };
  const ex = sm.run(job.input, { overrides: { taskResourceLocalHandlers: handlers }, context });
  const entered = {};
  const drain = (async () => {
    for await (const e of ex.eventLogs) {
      if (e.type === 'StateEntered') entered[e.state.name] = (entered[e.state.name] || 0) + 1;
    }
  })();
  const result = { calls, entered };
  try {
    result.output = await ex.result;
    result.status = 'SUCCEEDED';
  } catch (err) {
    const c = err.cause ?? err;
    result.status = 'FAILED';
    result.error = c.name;
    result.cause = c.message;
  }
  await drain; // the event log ends with the execution
  return result;
}

const results = await Promise.all(jobs.map(runJob));
process.stdout.write(JSON.stringify(results) + '\n');
