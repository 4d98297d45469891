import type { ChatMessage } from '../messages';

/** Chat messages as bubbles; tool calls and tool results folded. Text only. */
export function ChatMessages({ messages }: { messages: ChatMessage[] }) {
  return (
    <div className="chat">
      {messages.map((m, i) => (
        <ChatBubble key={i} message={m} />
      ))}
    </div>
  );
}

export function ChatBubble({ message: m }: { message: ChatMessage }) {
  if (m.role === 'tool' || m.role === 'function') {
    return (
      <details className="bubble tool">
        <summary>
          Tool result{m.name ? ` · ${m.name}` : ''}
          {m.toolCallId ? <span className="muted"> · {m.toolCallId}</span> : null}
        </summary>
        <pre className="pre">{m.content}</pre>
      </details>
    );
  }
  return (
    <div className={`bubble role-${m.role === 'user' || m.role === 'human' ? 'user' : m.role === 'assistant' || m.role === 'ai' ? 'assistant' : 'system'}`}>
      <div className="bubble-role">{m.role}</div>
      {m.content && <div className="bubble-text">{m.content}</div>}
      {m.toolCalls?.map((c, i) => (
        <details key={i} className="toolcall">
          <summary>
            Tool call <span className="mono">{c.name}</span>
          </summary>
          <pre className="pre">{c.arguments}</pre>
        </details>
      ))}
    </div>
  );
}
