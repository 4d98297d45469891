// @threadline/openai: autolog of the official `openai` package (a peer dependency) into Threadline.
// Every export is listed by name. The local OpenAI-compatible endpoint for development and tests
// is a separate entry, `@threadline/openai/fake-server`.

export { tracedOpenAI } from './traced-openai.js';
export type { TracedOpenAIOptions } from './traced-call.js';
export { tokenUsage } from './openai-parsing.js';
export type { EndpointKind } from './openai-parsing.js';
