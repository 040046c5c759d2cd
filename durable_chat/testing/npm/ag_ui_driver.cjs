// Drives @ag-ui/client's HttpAgent for the tests, one JSON command per stdin line; answers one JSON
// line per event, per finished run and per warning the client printed (durable_chat/testing/ag_ui_client.py).
'use strict';
const readline = require('node:readline');
const { HttpAgent } = require('@ag-ui/client');

let agent = null;
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');
for (const level of ['warn', 'error']) {
  console[level] = (...args) => say({ kind: 'warn', level, text: args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ') });
}

async function run(command) {
  const abort = command.abortAfter; // {type, count}: the connection is dropped there (the run's fetch aborted)
  let seen = 0;
  const subscriber = {
    onEvent({ event }) {
      say({ kind: 'event', event });
      if (abort && event.type === abort.type && ++seen === abort.count) agent.abortRun();
    },
  };
  const params = { tools: command.tools || [], runId: command.runId };
  if (command.resume) params.resume = command.resume;
  try {
    const { result, newMessages } = await agent.runAgent(params, subscriber);
    say({ kind: 'done', result: result ?? null, newMessages, messages: agent.messages, pendingInterrupts: agent.pendingInterrupts });
  } catch (error) {
    say({ kind: 'done', error: String(error && error.message ? error.message : error), messages: agent.messages, pendingInterrupts: agent.pendingInterrupts });
  }
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line);
  if (command.op === 'new') {
    agent = new HttpAgent({ url: command.url, headers: { Authorization: `Bearer ${command.token}` }, threadId: command.threadId });
    say({ kind: 'ready' });
  } else if (command.op === 'add') {
    agent.addMessage(command.message);
    say({ kind: 'added', id: command.message.id });
  } else if (command.op === 'run') {
    run(command);
  } else if (command.op === 'exit') {
    process.exit(0);
  }
});
