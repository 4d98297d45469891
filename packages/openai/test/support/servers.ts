// Tests only: the package itself never imports server code.
import OpenAI from 'openai';
import { flushTraces, getLastActiveTraceId, init, silentLogger, ThreadlineClient, type Trace } from '@threadline/tracing';
import { startFakeOpenAIServer, type FakeOpenAIServer } from '@threadline/openai/fake-server';
import { startServer } from '../../../server/src/index.js';

export interface TestBed {
  /** The real `openai` client, talking HTTP to the fake endpoint, without retries. */
  openai: OpenAI;
  fake: FakeOpenAIServer;
  client: ThreadlineClient;
  trackingUri: string;
  experimentId: string;
  close(): Promise<void>;
}

/**
 * A real Threadline tracking server (in-memory SQLite), the fake OpenAI endpoint, and the SDK
 * initialised to export to the server.
 */
export async function startTestBed(experimentName: string, fakeOptions: { chunkDelayMillis?: number } = {}): Promise<TestBed> {
  const server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
  const fake = await startFakeOpenAIServer(fakeOptions);
  const setup = new ThreadlineClient({ trackingUri: server.url });
  const experimentId = await setup.createExperiment(experimentName);
  init({ trackingUri: server.url, experimentId, scheduledDelayMillis: 10, logger: silentLogger });
  return {
    openai: new OpenAI({ baseURL: fake.url, apiKey: 'fake-key', maxRetries: 0 }),
    fake,
    client: new ThreadlineClient({ trackingUri: server.url, experimentId }),
    trackingUri: server.url,
    experimentId,
    close: async () => {
      await fake.close();
      await server.close();
    },
  };
}

/** Exports what has finished and reads the last finished trace back from the server. */
export async function lastStoredTrace(client: ThreadlineClient): Promise<Trace> {
  if (!(await flushTraces({ timeoutMillis: 10_000 }))) throw new Error('traces were not exported');
  const traceId = getLastActiveTraceId();
  if (traceId === undefined) throw new Error('no trace finished');
  return client.getTrace(traceId);
}
