// Tests only: the SDK itself never imports server code.
import { startServer } from '../../../server/src/index.js';

export interface TestTrackingServer {
  url: string;
  close(): Promise<void>;
}

/** A real Threadline tracking server on an in-memory SQLite store and a free port. */
export async function startTrackingServer(): Promise<TestTrackingServer> {
  const server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
  return { url: server.url, close: () => server.close() };
}
