/** Ownership of what a group or cell creates, disposed when its tsyringe child container is. */
import { injectable } from 'tsyringe';

interface MaybeDisposable {
  dispose?(): unknown;
}

/** Tracks objects to dispose, newest first, when the owning container is disposed. */
@injectable()
export class Scope {
  private readonly owned: MaybeDisposable[] = [];

  /** Registers `value` for disposal and returns it. */
  track<T extends MaybeDisposable>(value: T): T {
    this.owned.push(value);
    return value;
  }

  /** Disposes everything tracked, in reverse order; errors are collected and rethrown once. */
  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    while (this.owned.length > 0) {
      const item = this.owned.pop()!;
      try {
        await item.dispose?.();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'dispose failed');
  }
}
