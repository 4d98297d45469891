import { PriceBook, type CustomPrice } from './price-book.js';

/** How long a replica prices with the custom prices it read before it reads them again. */
export const PRICE_REFRESH_MS = 10_000;

/**
 * The price book writes use: the operators' prices read from the database, kept for
 * {@link PRICE_REFRESH_MS} (a price set through this process applies at once; one set through
 * another replica within that time). A failed read keeps the last book; the first one must succeed.
 */
export class PriceSource {
  private book: PriceBook | undefined;
  private readAt = 0;
  private pending: Promise<PriceBook> | undefined;

  constructor(
    private readonly readCustom: () => Promise<CustomPrice[]>,
    private readonly now: () => number = Date.now,
  ) {}

  async current(): Promise<PriceBook> {
    if (this.book && this.now() - this.readAt < PRICE_REFRESH_MS) return this.book;
    this.pending ??= this.readCustom()
      .then((custom) => {
        this.book = new PriceBook(custom);
        this.readAt = this.now();
        return this.book;
      })
      .catch((error: unknown) => {
        if (this.book) return this.book;
        throw error;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /** After a price changed here: the next write reads them again. */
  invalidate(): void {
    this.readAt = 0;
  }
}
