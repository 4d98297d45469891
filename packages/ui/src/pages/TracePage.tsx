import { useQuery } from '@tanstack/react-query';
import type { SpanJson } from '@threadline/protocol';
import { useMemo, useRef, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { api } from '../api';
import { ChatMessages } from '../components/Chat';
import { ErrorNote, paths, SessionLink, Stat, StateBadge, UserLink } from '../components/bits';
import { JsonView } from '../components/JsonView';
import { HighlightUrlWords, HighlightWords } from '../components/Highlight';
import { AssessmentsPanel } from '../components/AssessmentsPanel';
import { TagCell } from '../components/TagCell';
import { costFrom, costParts, dateTime, duration, durationMs, num, requestTimeMs, sessionOf, tokensFrom, tokensOf, traceCostOf, traceName, usd, userOf, userTags, type Cost } from '../format';
import { usePageMoveKeys } from '../keys';
import { attributeValue, decodedAttributes, nsToMs, requestMessages, responseMessages, rootSpan } from '../messages';

interface SpanNode {
  span: SpanJson;
  depth: number;
  startMs: number;
  endMs: number | null;
  type: string;
  error: boolean;
  /** What the server priced the span's LLM call at (`mlflow.llm.cost`); null for other spans, unpriced calls, and a span whose usage totals its inner calls'. */
  cost: Cost | null;
}

/** Spans in tree order (depth-first, siblings by start time); orphans become roots. */
function flattenTree(spans: readonly SpanJson[]): SpanNode[] {
  const byParent = new Map<string, SpanJson[]>();
  const ids = new Set(spans.map((s) => s.span_id));
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : '';
    const list = byParent.get(parent) ?? [];
    list.push(s);
    byParent.set(parent, list);
  }
  const out: SpanNode[] = [];
  const walk = (parent: string, depth: number) => {
    const children = (byParent.get(parent) ?? []).sort((a, b) => (nsToMs(a.start_time_unix_nano) ?? 0) - (nsToMs(b.start_time_unix_nano) ?? 0));
    for (const span of children) {
      const type = attributeValue(span, 'mlflow.spanType');
      out.push({
        span,
        depth,
        startMs: nsToMs(span.start_time_unix_nano) ?? 0,
        endMs: nsToMs(span.end_time_unix_nano),
        type: typeof type === 'string' ? type : 'UNKNOWN',
        error: span.status?.code === 'STATUS_CODE_ERROR' || span.status?.code === 'ERROR',
        cost: costFrom(attributeValue(span, 'mlflow.llm.cost')),
      });
      if (depth < 200) walk(span.span_id, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

/**
 * URL: /experiments/:id/traces/:traceId?span=<span_id>&tab=chat|io|attributes|events, and `words`
 * from the word search that found it, marked in the spans' inputs and outputs.
 */
export function TracePage() {
  return (
    <HighlightUrlWords>
      <TraceView />
    </HighlightUrlWords>
  );
}

function TraceView() {
  const { experimentId = '0', traceId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const trace = useQuery({ queryKey: ['trace', traceId], queryFn: ({ signal }) => api.trace(traceId, signal) });
  const nodes = useMemo(() => flattenTree(trace.data?.spans ?? []), [trace.data]);
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const info = trace.data?.trace_info;
  const selectedId = params.get('span') ?? rootSpan(trace.data?.spans ?? [])?.span_id;
  const selected = nodes.find((n) => n.span.span_id === selectedId) ?? nodes[0];

  const t0 = nodes.reduce((m, n) => Math.min(m, n.startMs), Infinity);
  const t1 = nodes.reduce((m, n) => Math.max(m, n.endMs ?? n.startMs), -Infinity);
  const total = Math.max(t1 - t0, 0.001);
  const hidden = new Set<string>();
  const visible = nodes.filter((n) => {
    const parent = n.span.parent_span_id ?? '';
    if (hidden.has(parent) || collapsed.has(parent)) {
      hidden.add(n.span.span_id);
      return false;
    }
    return true;
  });
  const hasChildren = new Set(nodes.map((n) => n.span.parent_span_id ?? ''));
  // ↑/↓ and j/k from anywhere on the page start at the selected span.
  const tree = useRef<HTMLDivElement>(null);
  usePageMoveKeys(tree, () => {
    const item = tree.current?.querySelector<HTMLElement>('[role="treeitem"][aria-selected="true"]') ?? tree.current?.querySelector<HTMLElement>('[role="treeitem"]');
    item?.focus();
    return !!item;
  });

  // The root span's times are to the nanosecond, the trace's recorded duration often to the
  // millisecond: the root span's, when there is one, so that the two never read differently.
  const root = rootSpan(trace.data?.spans ?? []);
  const rootNode = nodes.find((n) => n.span.span_id === root?.span_id);
  if (trace.error) {
    return (
      <div className="page">
        <h1>Trace</h1>
        <ErrorNote error={trace.error} />
      </div>
    );
  }
  if (!info) return <div className="page muted">Loading trace…</div>;
  const tokens = tokensOf(info);
  const cost = traceCostOf(info);
  const select = (id: string) => {
    const next = new URLSearchParams(params);
    next.set('span', id);
    setParams(next, { replace: true });
  };

  return (
    <div className="page trace-page">
      <div className="breadcrumbs">
        <Link to={paths.traces(experimentId)}>Traces</Link> / <span className="mono">{traceId}</span>
      </div>
      <div className="page-head">
        <h1 className="mono">{traceName(info) || traceId}</h1>
        <StateBadge state={info.state} />
      </div>
      <div className="stats">
        <Stat label="Started" value={dateTime(requestTimeMs(info))} />
        <Stat label="Duration" value={duration(rootNode && rootNode.endMs !== null ? rootNode.endMs - rootNode.startMs : durationMs(info.execution_duration))} />
        <Stat label="Tokens" value={num(tokens?.total)} sub={tokens ? `${num(tokens.input)} in · ${num(tokens.output)} out` : undefined} />
        <Stat label="Cost" value={usd(cost?.total)} sub={cost ? costParts(cost) : 'no priced LLM call'} />
        <Stat label="Spans" value={num(nodes.length)} />
        <Stat label="User" value={<UserLink exp={experimentId} user={userOf(info)} />} />
        <Stat label="Session" value={<SessionLink exp={experimentId} session={sessionOf(info)} />} />
      </div>
      <div className="trace-tags">
        <span className="muted">Tags</span>
        <TagCell traceId={traceId} tags={userTags(info)} />
      </div>
      <AssessmentsPanel traceId={traceId} assessments={info.assessments ?? []} />
      <div className="split">
        <div className="panel span-tree" role="tree" aria-label="Spans" data-testid="span-tree" ref={tree}>
          <div className="span-tree-head">
            <span>Span</span>
            <span className="waterfall-scale">
              <span>0</span>
              <span>{duration(total / 2)}</span>
              <span>{duration(total)}</span>
            </span>
          </div>
          {visible.map((n) => {
            const left = ((n.startMs - t0) / total) * 100;
            const width = Math.max((((n.endMs ?? t1) - n.startMs) / total) * 100, 0.4);
            const id = n.span.span_id;
            return (
              <div
                key={id}
                role="treeitem"
                aria-selected={selected?.span.span_id === id}
                aria-level={n.depth + 1}
                tabIndex={0}
                className={`span-row ${selected?.span.span_id === id ? 'selected' : ''} ${n.error ? 'error' : ''}`}
                onClick={() => select(id)}
                onKeyDown={(e) => {
                  const i = visible.indexOf(n);
                  const move = (j: number) => {
                    const target = visible[j];
                    if (!target) return;
                    select(target.span.span_id);
                    (e.currentTarget.parentElement?.querySelector(`[data-span="${target.span.span_id}"]`) as HTMLElement | null)?.focus();
                  };
                  if (e.key === 'ArrowDown' || e.key === 'j') (e.preventDefault(), move(i + 1));
                  if (e.key === 'ArrowUp' || e.key === 'k') (e.preventDefault(), move(i - 1));
                  if (e.key === 'Enter') select(id);
                  if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
                    const next = new Set(collapsed);
                    if (e.key === 'ArrowLeft') next.add(id);
                    else next.delete(id);
                    setCollapsed(next);
                  }
                }}
                data-span={id}
              >
                <div className="span-name" style={{ paddingLeft: 6 + n.depth * 14 }}>
                  {hasChildren.has(id) ? (
                    <button
                      className="caret"
                      aria-label={collapsed.has(id) ? 'Expand' : 'Collapse'}
                      onClick={(e) => {
                        e.stopPropagation();
                        const next = new Set(collapsed);
                        if (next.has(id)) next.delete(id);
                        else next.add(id);
                        setCollapsed(next);
                      }}
                    >
                      {collapsed.has(id) ? '▸' : '▾'}
                    </button>
                  ) : (
                    <span className="caret-space" />
                  )}
                  <span className={`type type-${n.type.toLowerCase()}`}>{n.type}</span>
                  <span className="ellipsis">{n.span.name}</span>
                  {n.cost && (
                    <span className="span-cost" title={costParts(n.cost)}>
                      {usd(n.cost.total)}
                    </span>
                  )}
                </div>
                <div className="waterfall">
                  <div className={`bar type-${n.type.toLowerCase()}`} style={{ left: `${left}%`, width: `${width}%` }} />
                  <span className={`bar-label ${left + width > 80 ? 'inside' : ''}`} style={{ left: `${left + width}%` }}>
                    {n.endMs === null ? 'running' : duration(n.endMs - n.startMs)}
                  </span>
                </div>
              </div>
            );
          })}
        </div>
        <div className="panel span-detail">{selected ? <SpanDetail node={selected} tab={params.get('tab')} setTab={(t) => (params.set('tab', t), setParams(params, { replace: true }))} /> : <span className="muted">No spans.</span>}</div>
      </div>
      <details className="panel metadata" open>
        <summary>Metadata</summary>
        <table className="kv">
          <tbody>
            <tr>
              <th>trace_id</th>
              <td className="mono">{info.trace_id}</td>
            </tr>
            {info.client_request_id && (
              <tr>
                <th>client_request_id</th>
                <td className="mono">{info.client_request_id}</td>
              </tr>
            )}
            {Object.entries(info.trace_metadata ?? {}).map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td className="mono">{k === 'mlflow.trace.user' ? <UserLink exp={experimentId} user={v} /> : k === 'mlflow.trace.session' ? <SessionLink exp={experimentId} session={v} /> : v}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}

/** An LLM span's model, tokens and cost, in one line under its name; nothing for other spans. */
function LlmCall({ span, cost }: { span: SpanJson; cost: Cost | null }) {
  const model = attributeValue(span, 'mlflow.llm.model');
  const tokens = tokensFrom(attributeValue(span, 'mlflow.chat.tokenUsage'));
  const parts = costParts(cost);
  const said = [
    typeof model === 'string' ? model : null,
    tokens ? `${num(tokens.total)} tokens (${num(tokens.input)} in · ${num(tokens.output)} out)` : null,
    // None for an unpriced model, and for a span whose usage totals its inner calls' (they carry the cost).
    cost ? `${usd(cost.total)}${parts ? ` (${parts})` : ''}` : null,
  ].filter((part) => part !== null);
  if (said.length === 0) return null;
  return (
    <div className="span-call muted" data-testid="span-call">
      {said.join(' · ')}
    </div>
  );
}

function SpanDetail({ node, tab, setTab }: { node: SpanNode; tab: string | null; setTab: (t: string) => void }) {
  const span = node.span;
  const inputs = attributeValue(span, 'mlflow.spanInputs');
  const outputs = attributeValue(span, 'mlflow.spanOutputs');
  const chat = [...(requestMessages(inputs) ?? []), ...(responseMessages(outputs) ?? [])];
  const attributes = decodedAttributes(span);
  delete attributes['mlflow.spanInputs'];
  delete attributes['mlflow.spanOutputs'];
  const events = span.events ?? [];
  const exceptions = events.filter((e) => e.name === 'exception');
  const tabs = [...(chat.length > 0 ? [['chat', 'Chat']] : []), ['io', 'Inputs / Outputs'], ['attributes', `Attributes (${Object.keys(attributes).length})`], ['events', `Events (${events.length})`]] as const;
  const current = tabs.some(([t]) => t === tab) ? tab : tabs[0]![0];
  return (
    <div data-testid="span-detail">
      <div className="span-detail-head">
        <h2 className="ellipsis">{span.name}</h2>
        <span className={`type type-${node.type.toLowerCase()}`}>{node.type}</span>
        <span className="muted">{node.endMs === null ? 'running' : duration(node.endMs - node.startMs)}</span>
        {node.error && <span className="badge state-error">Error</span>}
      </div>
      <LlmCall span={span} cost={node.cost} />
      {span.status?.message && <div className="error-note">{span.status.message}</div>}
      {exceptions.map((e, i) => (
        <div key={i} className="exception" role="note">
          <strong>{String(e.attributes?.['exception.type'] ?? 'Exception')}</strong>: {String(e.attributes?.['exception.message'] ?? '')}
          {e.attributes?.['exception.stacktrace'] ? (
            <details>
              <summary>Stack trace</summary>
              <pre className="pre">{String(e.attributes['exception.stacktrace'])}</pre>
            </details>
          ) : null}
        </div>
      ))}
      <div className="subtabs" role="tablist">
        {tabs.map(([t, label]) => (
          <button key={t} role="tab" aria-selected={current === t} className={current === t ? 'subtab active' : 'subtab'} onClick={() => setTab(t)}>
            {label}
          </button>
        ))}
      </div>
      {current === 'chat' && <ChatMessages messages={chat} />}
      {current === 'io' && (
        <div className="io">
          <h3>Inputs</h3>
          <div className="json-box" data-testid="span-inputs">
            {inputs === undefined ? <span className="muted">none</span> : <JsonView value={inputs} />}
          </div>
          <h3>Outputs</h3>
          <div className="json-box" data-testid="span-outputs">
            {outputs === undefined ? <span className="muted">none</span> : <JsonView value={outputs} />}
          </div>
        </div>
      )}
      {/* Attributes are not searched: nothing of them is marked. */}
      {current === 'attributes' && (
        <div className="json-box">
          <HighlightWords words="">
            <JsonView value={attributes} />
          </HighlightWords>
        </div>
      )}
      {current === 'events' &&
        (events.length === 0 ? (
          <p className="muted">No events.</p>
        ) : (
          events.map((e, i) => (
            <div key={i} className="event">
              <div>
                <strong>{e.name}</strong> <span className="muted">{dateTime(nsToMs(e.time_unix_nano))}</span>
              </div>
              <div className="json-box">
                <HighlightWords words="">
                  <JsonView value={e.attributes ?? {}} />
                </HighlightWords>
              </div>
            </div>
          ))
        ))}
    </div>
  );
}
