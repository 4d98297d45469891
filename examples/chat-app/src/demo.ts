// `npm run demo`: a tracking server, a model endpoint and the chat app, then users chatting with it.
//
//   node examples/chat-app/dist/demo.js [--keep-running | --exit] [--dir DIR] [--port N]
//
// --keep-running leaves the three servers up until Ctrl+C (the default on a terminal outside CI);
// --exit stops them once the conversations are played and printed (the default otherwise).
// --dir is where the SQLite store goes (default .tmp/demo, emptied first); --port the tracking
// server's port (default 5000, then a free one if taken). The model endpoint is the local fake
// unless OPENAI_API_KEY is set and --real-openai is given.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { FAKE_OPENAI_BANNER, startFakeOpenAIServer, type FakeOpenAIServer } from '@threadline/openai/fake-server';
import { startServer, type RunningServer } from '@threadline/server';
import { flushTraces, init, ThreadlineClient } from '@threadline/tracing';
import { backfillTraffic } from './backfill.js';
import { createChatApp, listenChatApp, SESSION_HEADERS, type RunningChatApp } from './chat-app.js';

/** Who says what: per user, their sessions, each a list of turns. */
export const DEMO_CONVERSATIONS: Record<string, Record<string, string[]>> = {
  'user-alice': {
    'session-alice-1': ['Hello, how are you?', 'Can you help me plan a trip to Lisbon?', 'What should I pack for three days?', 'Thanks, that is all!'],
    'session-alice-2': ['Hi again. What is a good book on distributed systems?', 'Anything shorter?', 'Great, I will read that.'],
  },
  'user-bob': {
    'session-bob-1': ['How do I reverse a list in Python?', 'And in TypeScript?', 'What about a string?', 'Which one is faster?', 'Thanks!'],
    'session-bob-2': ['My build is failing with a type error.', 'It says property does not exist on type never.', 'That fixed it.'],
    'session-bob-3': ['Quick question: what is a span in tracing?', 'And a trace?', 'And a session?'],
  },
  'user-carol': {
    'session-carol-1': ['Write a haiku about databases.', 'Now one about indexes.', 'Make it funnier.'],
    'session-carol-2': ['Summarise the plot of Hamlet in two sentences.', 'Who is Horatio?', 'Is he in the last scene?', 'Thanks.'],
  },
  'user-dave': {
    'session-dave-1': ['Explain rate limits to me.', 'What happens when I hit one? [[error:429]]', 'OK, let me retry more slowly.'],
    'session-dave-2': ['What is the capital of Australia?', 'And its population?', 'Interesting!'],
  },
};

export interface DemoOptions {
  /** Directory of the SQLite store (emptied first). Default `.tmp/demo` under the working directory. */
  dir?: string;
  /** Tracking server port; 0 for a free one. Default 5000, or a free one if 5000 is taken. */
  port?: number;
  /** Chat app port; 0 for a free one. Default 8000 (the seed's), or a free one if 8000 is taken. */
  chatPort?: number;
  /** Use OPENAI_API_KEY / OPENAI_BASE_URL from the environment instead of the fake endpoint. Default false. */
  realOpenAI?: boolean;
  /** Where the demo writes. Default `console.log`. */
  print?: (line: string) => void;
}

export interface RunningDemo {
  trackingUri: string;
  uiUrl: string;
  chatUrl: string;
  experimentId: string;
  /** The traces the demo produced (one per chat request). */
  /** Traces of the conversations played now. */
  traceCount: number;
  /** Traces of the past week, logged with their past times. */
  backfilledCount: number;
  close(): Promise<void>;
}

/** One `POST /chat` as the seed's curl sends it; headers omitted for the header-less request. */
async function chat(chatUrl: string, message: string, userId?: string, sessionId?: string): Promise<{ status: number; body: { response?: string; trace_id?: string; message?: string } }> {
  return post(`${chatUrl}/chat`, { message }, userId, sessionId);
}

/** An end user's thumbs up or down on one answer, through the app's `POST /feedback`. */
async function rate(chatUrl: string, traceId: string | undefined, rating: 'up' | 'down', userId: string, sessionId: string, comment?: string) {
  return post(`${chatUrl}/feedback`, { ...(traceId !== undefined ? { trace_id: traceId } : {}), rating, ...(comment !== undefined ? { comment } : {}) }, userId, sessionId);
}

async function post(url: string, body: unknown, userId?: string, sessionId?: string): Promise<{ status: number; body: { response?: string; trace_id?: string; message?: string } }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (sessionId !== undefined) headers[SESSION_HEADERS.sessionHeader] = sessionId;
  if (userId !== undefined) headers[SESSION_HEADERS.userHeader] = userId;
  const reply = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: reply.status, body: (await reply.json()) as { response?: string; trace_id?: string; message?: string } };
}

/** The scripted feedback: the last answer of each session is rated; bob's first conversation went badly. */
const DISSATISFIED = { user: 'user-bob', session: 'session-bob-1', comment: 'It did not answer my question.' };
/** And one conversation is rated as a whole. */
const RATED_CONVERSATION = { user: 'user-alice', session: 'session-alice-1', comment: 'Helped me plan the whole trip.' };

/** A shell-quoted single-quoted string. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

function searchCurl(trackingUri: string, experimentId: string, filter: string): string {
  const body = JSON.stringify({ locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], filter, max_results: 100 });
  return `curl -s -X POST ${trackingUri}/api/3.0/mlflow/traces/search -H 'Content-Type: application/json' -d ${shellQuote(body)}`;
}

async function startTracking(dir: string, port: number | undefined, print: (line: string) => void): Promise<RunningServer> {
  const backendStoreUri = `sqlite:///${join(dir, 'threadline.db')}`;
  if (port !== undefined) return startServer({ backendStoreUri, port });
  try {
    return await startServer({ backendStoreUri, port: 5000 });
  } catch (error) {
    const server = await startServer({ backendStoreUri, port: 0 });
    print(`Port 5000 is not free (${(error as Error).message}); the tracking server listens on ${server.url} instead.`);
    return server;
  }
}

/**
 * Claims the demo's folder for this process: a second demo would otherwise delete the database
 * under the first one's running server. A claim whose process is gone is taken over.
 */
async function claimDemoDir(dir: string): Promise<() => Promise<void>> {
  const pidFile = join(dir, 'demo.pid');
  const owner = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
    throw new Error(`Another demo (pid ${owner}) is running on ${dir}; stop it first (Ctrl+C in its terminal), or pass --dir for another folder.`);
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(pidFile, String(process.pid));
  return () => rm(pidFile, { force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts a tracking server (SQLite under `dir`), a model endpoint (the fake one unless
 * `realOpenAI`) and the chat app; plays every user's sessions turn by turn through `POST /chat`
 * with the seed's headers (users concurrently, each user's sessions one after another), plus one
 * request without headers; flushes, and prints where to look and the seed's queries as curl
 * commands. The servers stay up until `close()`.
 */
export async function runDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const print = options.print ?? ((line: string) => console.log(line));
  const dir = resolve(options.dir ?? join('.tmp', 'demo'));
  const release = await claimDemoDir(dir);

  const closers: (() => Promise<void>)[] = [release];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne().catch(() => {});
  };
  try {
    const tracking = await startTracking(dir, options.port, print);
    closers.push(() => tracking.close());
    const experimentId = await new ThreadlineClient({ trackingUri: tracking.url }).createExperiment('chat-app-demo');
    init({ trackingUri: tracking.url, experimentId, scheduledDelayMillis: 50 });
    print(`Tracking server: ${tracking.url} (${tracking.storeDescription}), experiment "chat-app-demo" (id ${experimentId})`);

    let fake: FakeOpenAIServer | undefined;
    if (!options.realOpenAI) {
      fake = await startFakeOpenAIServer();
      closers.push(() => fake!.close());
      print(`Model endpoint: ${fake.url}. ${FAKE_OPENAI_BANNER}`);
    } else {
      print('Model endpoint: OpenAI, from OPENAI_API_KEY / OPENAI_BASE_URL.');
    }
    const openai = new OpenAI(fake === undefined ? {} : { baseURL: fake.url, apiKey: 'fake-key', maxRetries: 0 });
    const app = createChatApp({ openai });
    const chatApp: RunningChatApp = await (options.chatPort !== undefined
      ? listenChatApp(app, options.chatPort)
      : listenChatApp(app, 8000).catch(async (error: Error) => {
          const fallback = await listenChatApp(app, 0);
          print(`Port 8000 is not free (${error.message}); the chat app listens on ${fallback.url} instead.`);
          return fallback;
        }));
    closers.push(() => chatApp.close());
    print(`Chat app: ${chatApp.url}`);

    let requests = 0;
    let ratings = 0;
    const failures: string[] = [];
    const playUser = async (userId: string, sessions: Record<string, string[]>) => {
      for (const [sessionId, turns] of Object.entries(sessions)) {
        let lastAnswer: string | undefined;
        for (const message of turns) {
          const reply = await chat(chatApp.url, message, userId, sessionId);
          requests++;
          if (reply.status !== 200) failures.push(`${userId} / ${sessionId}: ${reply.status} ${reply.body.message ?? ''}`);
          else lastAnswer = reply.body.trace_id;
        }
        if (lastAnswer === undefined) continue;
        const unhappy = userId === DISSATISFIED.user && sessionId === DISSATISFIED.session;
        const rated = await rate(chatApp.url, lastAnswer, unhappy ? 'down' : 'up', userId, sessionId, unhappy ? DISSATISFIED.comment : undefined);
        if (rated.status === 200) ratings++;
        else failures.push(`feedback of ${userId} / ${sessionId}: ${rated.status} ${rated.body.message ?? ''}`);
        if (userId === RATED_CONVERSATION.user && sessionId === RATED_CONVERSATION.session) {
          const whole = await rate(chatApp.url, undefined, 'up', userId, sessionId, RATED_CONVERSATION.comment);
          if (whole.status === 200) ratings++;
          else failures.push(`conversation feedback of ${userId} / ${sessionId}: ${whole.status} ${whole.body.message ?? ''}`);
        }
      }
    };
    print(`\nPlaying ${Object.keys(DEMO_CONVERSATIONS).length} users' conversations through POST ${chatApp.url}/chat ...`);
    await Promise.all(Object.entries(DEMO_CONVERSATIONS).map(([userId, sessions]) => playUser(userId, sessions)));
    await chat(chatApp.url, 'Hello from a request without headers');
    requests++;
    // A week of past traffic too, so the overview and the users' pages have a shape to show.
    const backfilled = backfillTraffic({
      // Six days back: the overview's 7-day range (aligned to whole hours) then holds all of it.
      days: 6,
      users: Object.keys(DEMO_CONVERSATIONS),
      messages: Object.values(DEMO_CONVERSATIONS).flatMap((sessions) => Object.values(sessions).flat()).filter((m) => !m.includes('[[')),
    });
    print(`Logged ${backfilled} traces of the past week through the SDK, with their past times.`);
    if (!(await flushTraces({ timeoutMillis: 15_000 }))) print('Warning: some traces were not exported in time.');
    print(`${requests} chat requests sent, ${ratings} answers rated through POST ${chatApp.url}/feedback${failures.length > 0 ? `; ${failures.length} failed as scripted (an injected model error, traced as ERROR):\n  ${failures.join('\n  ')}` : ''}.`);

    const client = new ThreadlineClient({ trackingUri: tracking.url, experimentId });
    // The conversations just played: the backfilled week is older than an hour.
    const { traces } = await client.searchTraces({ maxResults: 500, filter: `trace.timestamp_ms > ${Date.now() - 3_600_000}` });
    const user = 'user-bob';
    const session = 'session-bob-1';
    print(`
${traces.length} traces of the conversations just played stored, and ${backfilled} of the past week.

Look at them:
  UI:        ${tracking.url}/experiments/${experimentId}/sessions
  A session: ${tracking.url}/experiments/${experimentId}/sessions/${encodeURIComponent(session)}

The seed's three queries, against the REST API:

# All traces of a user
${searchCurl(tracking.url, experimentId, `metadata.\`mlflow.trace.user\` = '${user}'`)}

# All traces of a session
${searchCurl(tracking.url, experimentId, `metadata.\`mlflow.trace.session\` = '${session}'`)}

# A user's traces within a session
${searchCurl(tracking.url, experimentId, `metadata.\`mlflow.trace.user\` = '${user}' AND metadata.\`mlflow.trace.session\` = '${session}'`)}

# Traces an end user gave a thumbs-down
${searchCurl(tracking.url, experimentId, `feedback.user_satisfaction = 'false'`)}

# One more turn in that session, as the seed's curl (its answer carries a trace_id)
curl -X POST ${chatApp.url}/chat -H "Content-Type: application/json" -H "X-Session-ID: ${session}" -H "X-User-ID: ${user}" -d '{"message": "Hello, how are you?"}'

# Conversations their users rated as a whole, positively
curl -s -X POST ${tracking.url}/api/threadline/sessions/search -H 'Content-Type: application/json' -d ${shellQuote(JSON.stringify({ experiment_id: experimentId, filter: 'feedback.conversation_satisfaction.positive > 0' }))}

# The end user's thumbs up or down on that answer
curl -X POST ${chatApp.url}/feedback -H "Content-Type: application/json" -H "X-Session-ID: ${session}" -H "X-User-ID: ${user}" -d '{"trace_id": "<trace_id from the answer>", "rating": "down", "comment": "Not what I asked."}'

# This run's data stays in ${dir}; open it again later (the next demo starts afresh) with
npx threadline server --backend-store-uri sqlite:///${join(dir, 'threadline.db')}`);
    return { trackingUri: tracking.url, uiUrl: `${tracking.url}/`, chatUrl: chatApp.url, experimentId, traceCount: traces.length, backfilledCount: backfilled, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'keep-running': { type: 'boolean' },
      exit: { type: 'boolean' },
      dir: { type: 'string' },
      port: { type: 'string' },
      'real-openai': { type: 'boolean' },
    },
  });
  const keepRunning = values['keep-running'] ?? (values.exit ? false : process.stdout.isTTY === true && !process.env.CI);
  const realOpenAI = values['real-openai'] === true;
  if (realOpenAI && process.env.OPENAI_API_KEY === undefined) throw new Error('--real-openai needs OPENAI_API_KEY.');
  const demo = await runDemo({ ...(values.dir !== undefined && { dir: values.dir }), ...(values.port !== undefined && { port: Number(values.port) }), realOpenAI });
  if (!keepRunning) {
    await demo.close();
    return;
  }
  console.log('\nThe servers keep running: press Ctrl+C to stop.');
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await flushTraces({ timeoutMillis: 5000 });
  await demo.close();
}

// Run only as the entry point, not when imported (tests import runDemo).
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
