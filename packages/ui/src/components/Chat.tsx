import { useState } from 'react';
import { num } from '../format';
import type { ChatMessage } from '../messages';
import { Highlighted } from './Highlight';

/** Past this many characters or lines a message is folded: a pasted document should not bury the conversation. */
const FOLD_CHARS = 1200;
const FOLD_LINES = 24;

/** Where to fold `text`: at a space or line end before the limits, or null when it is short enough. */
export function foldPoint(text: string): number | null {
  let cut = text.length > FOLD_CHARS ? FOLD_CHARS : text.length;
  let lines = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < cut; i = text.indexOf('\n', i + 1)) {
    if (++lines >= FOLD_LINES) cut = i;
  }
  if (cut >= text.length) return null;
  const space = text.lastIndexOf(' ', cut);
  return space > cut * 0.8 ? space : cut;
}

/** A message's text, folded past the limits with a "Show more" that says how much there is, searched words marked. Text only. */
export function FoldedText({ text, className }: { text: string; className: string }) {
  const [open, setOpen] = useState(false);
  const cut = foldPoint(text);
  if (cut === null) {
    return (
      <div className={className}>
        <Highlighted text={text} />
      </div>
    );
  }
  return (
    <>
      <div className={className}>
        <Highlighted text={open ? text : text.slice(0, cut).trimEnd() + '…'} />
      </div>
      <button className="fold-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Show less' : `Show more (${num(text.length)} characters)`}
      </button>
    </>
  );
}

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
        <pre className="pre">
          <Highlighted text={m.content} />
        </pre>
      </details>
    );
  }
  return (
    <div className={`bubble role-${m.role === 'user' || m.role === 'human' ? 'user' : m.role === 'assistant' || m.role === 'ai' ? 'assistant' : 'system'}`}>
      <div className="bubble-role">{m.role}</div>
      {m.content && <FoldedText className="bubble-text" text={m.content} />}
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
