// The seed's chat web app in TypeScript, as a library for tests and the demo; `main.js` runs it.
export { createChatApp, listenChatApp, SESSION_HEADERS } from './chat-app.js';
export type { ChatAppOptions, RunningChatApp } from './chat-app.js';
export { ConversationStore } from './conversation-store.js';
export type { ChatMessage, ConversationStoreOptions } from './conversation-store.js';
export { runDemo, DEMO_CONVERSATIONS } from './demo.js';
export type { DemoOptions, RunningDemo } from './demo.js';
