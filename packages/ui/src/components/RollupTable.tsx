import { useInfiniteQuery } from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useCallback, useEffect, useMemo } from 'react';
import { EmptyRows, loadedCount } from './bits';
import { VirtualTable } from './VirtualTable';

/** A server-paged list of sessions or users (their rollups), 100 per page, loaded as it scrolls. */
export function RollupTable<T>({ queryKey, fetchPage, pick, columns, rowId, onOpen, onError, noun, height, testId, onScrolledAway }: {
  queryKey: unknown[];
  fetchPage: (pageToken: string | undefined, signal: AbortSignal) => Promise<{ next_page_token?: string } & Record<string, unknown>>;
  pick: (page: Record<string, unknown>) => T[];
  columns: ColumnDef<T, unknown>[];
  rowId: (row: T) => string;
  onOpen: (row: T) => void;
  onError?: (e: unknown) => void;
  noun: string;
  height?: string;
  testId?: string;
  onScrolledAway?: (away: boolean) => void;
}) {
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) => fetchPage(pageParam || undefined, signal),
    initialPageParam: '',
    getNextPageParam: (last) => last.next_page_token || undefined,
  });
  useEffect(() => onError?.(query.error), [query.error, onError]);
  const rows = useMemo(() => query.data?.pages.flatMap(pick) ?? [], [query.data, pick]);
  const loadMore = useCallback(() => void query.fetchNextPage(), [query.fetchNextPage]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <>
      <div className="table-status">
        <span data-testid={`${noun}-count`}>{loadedCount(query, rows.length, noun)}</span>
      </div>
      <VirtualTable
        rows={query.error ? [] : rows}
        columns={columns}
        rowId={rowId}
        onOpen={onOpen}
        hasMore={!!query.hasNextPage}
        loadingMore={query.isFetchingNextPage}
        loadMore={loadMore}
        empty={<EmptyRows loading={query.isLoading} error={query.error} noun={noun} />}
        {...(height ? { height } : {})}
        {...(testId ? { testId } : {})}
        {...(onScrolledAway ? { onScrolledAway } : {})}
      />
    </>
  );
}
