import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import type { ColumnDef, RowSelectionState } from '@tanstack/react-table';
import type { TraceInfoJson } from '@threadline/protocol';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import { api } from '../api';
import { previewText } from '../messages';
import { duration, durationMs, num, oneLine, requestTimeMs, sessionOf, tokensOf, costParts, traceCostOf, traceName, usd, userOf, userTags, zoneName } from '../format';
import { EmptyRows, FirstTraceHelp, loadedCount, paths, SessionLink, StateBadge, TimeCell, UserLink } from './bits';
import { Highlighted, useCarryWords } from './Highlight';
import { TagCell } from './TagCell';
import { VirtualTable } from './VirtualTable';

const PAGE_SIZE = 200;

export const SORTS: Record<string, { label: string; orderBy: string[] }> = {
  newest: { label: 'Newest first', orderBy: ['timestamp_ms DESC'] },
  oldest: { label: 'Oldest first', orderBy: ['timestamp_ms ASC'] },
  slowest: { label: 'Slowest first', orderBy: ['execution_time_ms DESC'] },
  fastest: { label: 'Fastest first', orderBy: ['execution_time_ms ASC'] },
  // Traces without a priced call have no cost: the server sorts them last.
  costliest: { label: 'Most expensive first', orderBy: ['cost DESC'] },
};

/** A trace's cost, `–` without a priced call; its input and output parts in the tooltip. */
function TraceCostCell({ info }: { info: TraceInfoJson }) {
  const cost = traceCostOf(info);
  return (
    <span className="num" title={costParts(cost)}>
      {usd(cost?.total)}
    </span>
  );
}

/**
 * An experiment's traces matching `filter`, paged from the server as the table scrolls (keyset
 * `page_token`, 200 at a time, no cap), with selection, delete and inline tags.
 */
export function TracesTable({ experimentId, filter, sort, onError, height, hideUser, hideSession, onScrolledAway }: {
  experimentId: string;
  filter: string;
  sort: string;
  onError?: (e: unknown) => void;
  onScrolledAway?: (away: boolean) => void;
  height?: string;
  hideUser?: boolean;
  hideSession?: boolean;
}) {
  const navigate = useNavigate();
  const carryWords = useCarryWords();
  const client = useQueryClient();
  const orderBy = (SORTS[sort] ?? SORTS.newest!).orderBy;
  const [selection, setSelection] = useState<RowSelectionState>({});
  const query = useInfiniteQuery({
    queryKey: ['traces', experimentId, filter, orderBy],
    queryFn: ({ pageParam, signal }) => api.searchTraces({ experimentId, filter, orderBy, maxResults: PAGE_SIZE, ...(pageParam ? { pageToken: pageParam } : {}) }, signal),
    initialPageParam: '' as string,
    getNextPageParam: (last) => last.next_page_token || undefined,
  });
  useEffect(() => onError?.(query.error), [query.error, onError]);
  const rows = useMemo(() => query.data?.pages.flatMap((p) => p.traces ?? []) ?? [], [query.data]);
  const remove = useMutation({
    mutationFn: (ids: string[]) => api.deleteTraces(experimentId, ids),
    onSuccess: () => {
      setSelection({});
      void client.invalidateQueries({ queryKey: ['traces'] });
    },
  });
  const selected = Object.keys(selection).filter((k) => selection[k]);

  const columns = useMemo<ColumnDef<TraceInfoJson, unknown>[]>(() => {
    const cols: ColumnDef<TraceInfoJson, unknown>[] = [
      {
        id: 'select',
        size: 34,
        header: ({ table }) => (
          <input type="checkbox" aria-label="Select all loaded" checked={table.getIsAllRowsSelected()} onChange={table.getToggleAllRowsSelectedHandler()} />
        ),
        cell: ({ row }) => <input type="checkbox" aria-label="Select trace" checked={row.getIsSelected()} onChange={row.getToggleSelectedHandler()} />,
      },
      {
        id: 'time',
        size: 150,
        meta: { priority: 2 },
        header: `Time (${zoneName()})`,
        cell: ({ row }) => <TimeCell ms={requestTimeMs(row.original)} />,
      },
      { id: 'name', size: 120, meta: { priority: 9 }, header: 'Name', cell: ({ row }) => <span className="mono ellipsis">{traceName(row.original) || '—'}</span> },
      { id: 'request', size: 220, meta: { grow: true, priority: 1 }, header: 'Request', cell: ({ row }) => <span className="ellipsis"><Highlighted text={oneLine(previewText(row.original.request_preview, 'request'))} /></span> },
      { id: 'response', size: 200, meta: { grow: true, priority: 5 }, header: 'Response', cell: ({ row }) => <span className="ellipsis muted-2"><Highlighted text={oneLine(previewText(row.original.response_preview, 'response'))} /></span> },
    ];
    if (!hideUser) cols.push({ id: 'user', size: 110, meta: { priority: 6 }, header: 'User', cell: ({ row }) => <UserLink exp={experimentId} user={userOf(row.original)} /> });
    if (!hideSession) cols.push({ id: 'session', size: 130, meta: { priority: 7 }, header: 'Session', cell: ({ row }) => <SessionLink exp={experimentId} session={sessionOf(row.original)} /> });
    cols.push(
      { id: 'state', size: 72, meta: { priority: 3 }, header: 'State', cell: ({ row }) => <StateBadge state={row.original.state} /> },
      { id: 'duration', size: 72, meta: { priority: 4 }, header: () => <span className="num">Duration</span>, cell: ({ row }) => <span className="num">{duration(durationMs(row.original.execution_duration))}</span> },
      { id: 'tokens', size: 70, meta: { priority: 8 }, header: () => <span className="num">Tokens</span>, cell: ({ row }) => <span className="num">{num(tokensOf(row.original)?.total)}</span> },
      { id: 'cost', size: 80, meta: { priority: 8 }, header: () => <span className="num">Cost</span>, cell: ({ row }) => <TraceCostCell info={row.original} /> },
      { id: 'tags', size: 170, meta: { priority: 10 }, header: 'Tags', cell: ({ row }) => <TagCell traceId={row.original.trace_id} tags={userTags(row.original)} /> },
    );
    return cols;
  }, [experimentId, hideUser, hideSession]);

  const loadMore = useCallback(() => void query.fetchNextPage(), [query.fetchNextPage]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <div className="traces-table">
      <div className="table-status">
        <span data-testid="trace-count">
          {loadedCount(query, rows.length, 'trace')}
        </span>
        {selected.length > 0 && (
          <span className="selection-actions">
            {selected.length} selected
            <button
              className="danger small"
              data-testid="delete-selected"
              onClick={() => {
                if (window.confirm(`Delete ${selected.length} trace${selected.length === 1 ? '' : 's'}? This cannot be undone.`)) remove.mutate(selected);
              }}
            >
              Delete
            </button>
            <button className="ghost small" onClick={() => setSelection({})}>
              Clear
            </button>
          </span>
        )}
        <span className="muted kbd-help">
          <kbd>/</kbd> filter · <kbd>↑</kbd>
          <kbd>↓</kbd> move · <kbd>↵</kbd> open · <kbd>x</kbd> select
        </span>
      </div>
      <VirtualTable
        testId="traces-table"
        rows={query.error ? [] : rows}
        columns={columns}
        rowId={(t) => t.trace_id}
        onOpen={(t) => navigate(carryWords(paths.trace(experimentId, t.trace_id)))}
        hasMore={!!query.hasNextPage}
        loadingMore={query.isFetchingNextPage}
        loadMore={loadMore}
        rowSelection={selection}
        onRowSelectionChange={setSelection}
        empty={<EmptyRows loading={query.isLoading} error={query.error} noun="trace" {...(filter.trim() === '' ? { whenNone: <FirstTraceHelp experimentId={experimentId} /> } : {})} />}
        {...(height ? { height } : {})}
        {...(onScrolledAway ? { onScrolledAway } : {})}
      />
    </div>
  );
}
