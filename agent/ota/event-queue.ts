// An unbounded queue with an awaitable next(): events from callbacks, consumed by one async loop.
export class EventQueue<T> {
  private readonly items: T[] = [];
  private waiter: ((item: T) => void) | undefined;

  push(item: T): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(item);
    } else this.items.push(item);
  }

  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}
