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
  private readonly conversations = new Map<string, ChatMessage[]>();
  private readonly maxConversations: number;
  private readonly maxMessages: number;

  constructor(options: ConversationStoreOptions = {}) {
    this.maxConversations = Math.max(1, options.maxConversations ?? 1000);
    // An even bound, so trimming drops whole user/assistant pairs.
    this.maxMessages = Math.max(2, (options.maxMessages ?? 20) & ~1);
  }

  /** The conversation's messages so far, oldest first (a copy). */
  history(userId: string, sessionId: string): ChatMessage[] {
    return [...(this.conversations.get(keyOf(userId, sessionId)) ?? [])];
  }

  /** Adds one exchange, marks the conversation as most recently used, and applies the bounds. */
  append(userId: string, sessionId: string, ...messages: ChatMessage[]): void {
    const key = keyOf(userId, sessionId);
    const history = this.conversations.get(key) ?? [];
    this.conversations.delete(key);
    history.push(...messages);
    if (history.length > this.maxMessages) history.splice(0, history.length - this.maxMessages);
    this.conversations.set(key, history);
    if (this.conversations.size > this.maxConversations) this.conversations.delete(this.conversations.keys().next().value!);
  }

  get size(): number {
    return this.conversations.size;
  }
}

function keyOf(userId: string, sessionId: string): string {
  return JSON.stringify([userId, sessionId]);
}
