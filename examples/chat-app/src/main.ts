// Runs the chat app: `npm start -w @threadline/example-chat-app` (after `npm install`, which builds).
//
//   MLFLOW_TRACKING_URI   the Threadline (or MLflow) server; default http://127.0.0.1:5000
//   MLFLOW_EXPERIMENT_ID  or MLFLOW_EXPERIMENT_NAME; default experiment 0
//   OPENAI_API_KEY, OPENAI_BASE_URL  the model endpoint; with neither, a local fake endpoint is started
//   OPENAI_MODEL          default gpt-4.1-mini
//   PORT, HOST            default 8000 and 127.0.0.1
import OpenAI from 'openai';
import { startFakeOpenAIServer } from '@threadline/openai/fake-server';
import { flushTraces, init } from '@threadline/tracing';
import { createChatApp, listenChatApp } from './chat-app.js';

const env = process.env;
init({ trackingUri: env.MLFLOW_TRACKING_URI ?? 'http://127.0.0.1:5000', ...(env.MLFLOW_EXPERIMENT_ID === undefined && env.MLFLOW_EXPERIMENT_NAME === undefined && { experimentId: '0' }) });

let fake: Awaited<ReturnType<typeof startFakeOpenAIServer>> | undefined;
if (env.OPENAI_API_KEY === undefined && env.OPENAI_BASE_URL === undefined) {
  fake = await startFakeOpenAIServer({ log: (line) => console.log(line) });
}
const openai = new OpenAI(fake === undefined ? {} : { baseURL: fake.url, apiKey: 'fake-key' });
const app = createChatApp({ openai, ...(env.OPENAI_MODEL !== undefined && { model: env.OPENAI_MODEL }) });
const running = await listenChatApp(app, Number(env.PORT ?? 8000), env.HOST ?? '127.0.0.1');
console.log(`Chat app on ${running.url} (traces to ${env.MLFLOW_TRACKING_URI ?? 'http://127.0.0.1:5000'})`);

const stop = async () => {
  await running.close();
  await fake?.close();
  await flushTraces({ timeoutMillis: 5000 });
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
