/** A chat message as the chat completions API takes it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Options of `ConversationStore`. All optional. */
export interface ConversationStoreOptions {
  /** Conversations kept; the least recently used is forgotten first. Default 1000. */
  maxConversations?: number;
  /** Messages kept per conversation (the oldest user/assistant pairs go first). Default 20. */
  maxMessages?: number;
}

/**
 * Each conversation's history, in memory and bounded in both directions, so a server that runs for
 * weeks holds at most `maxConversations * maxMessages` messages. Keyed by user AND session: a
 * session id guessed or reused by another user never reveals someone else's conversation.
 */
export class ConversationStore {
  private readonly conversations = new Map<string, { messages: ChatMessage[]; traceIds: string[] }>();
  private readonly maxConversations: number;
  private readonly maxMessages: number;

  constructor(options: ConversationStoreOptions = {}) {
    this.maxConversations = Math.max(1, options.maxConversations ?? 1000);
    // An even bound, so trimming drops whole user/assistant pairs.
    this.maxMessages = Math.max(2, (options.maxMessages ?? 20) & ~1);
  }

  /** The conversation's messages so far, oldest first (a copy). */
  history(userId: string, sessionId: string): ChatMessage[] {
    return [...(this.conversations.get(keyOf(userId, sessionId))?.messages ?? [])];
  }

  /**
   * Adds one exchange (and the id of the trace that answered it), marks the conversation as most
   * recently used, and applies the bounds.
   */
  append(userId: string, sessionId: string, traceId: string | undefined, ...messages: ChatMessage[]): void {
    const key = keyOf(userId, sessionId);
    const conversation = this.conversations.get(key) ?? { messages: [], traceIds: [] };
    this.conversations.delete(key);
    conversation.messages.push(...messages);
    if (conversation.messages.length > this.maxMessages) conversation.messages.splice(0, conversation.messages.length - this.maxMessages);
    if (traceId !== undefined) conversation.traceIds.push(traceId);
    if (conversation.traceIds.length > this.maxMessages) conversation.traceIds.splice(0, conversation.traceIds.length - this.maxMessages);
    this.conversations.set(key, conversation);
    if (this.conversations.size > this.maxConversations) this.conversations.delete(this.conversations.keys().next().value!);
  }

  /** Whether a trace answered a turn of this user's conversation (so its feedback is theirs to give). */
  hasTurn(userId: string, sessionId: string, traceId: string): boolean {
    return this.conversations.get(keyOf(userId, sessionId))?.traceIds.includes(traceId) ?? false;
  }

  get size(): number {
    return this.conversations.size;
  }
}

function keyOf(userId: string, sessionId: string): string {
  return JSON.stringify([userId, sessionId]);
}
