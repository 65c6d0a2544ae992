/**
 * Servers a test starts must stop whatever happens, or jest never exits: what is started is
 * registered here as it starts, and run() undoes everything, last first, even after a failure.
 */
export interface Closable {
  close(): Promise<void> | void;
}

export class Cleanup {
  private readonly steps: (() => Promise<void> | void)[] = [];

  /** Registers `step` and returns `value` (e.g. `cleanup.add(server, () => server.close())`). */
  add<T>(value: T, step: () => Promise<void> | void): T {
    this.steps.push(step);
    return value;
  }

  /** Registers a started server's close(). */
  closes<T extends Closable>(server: T): T {
    return this.add(server, () => server.close());
  }

  /** Runs every step (last registered first); throws the first failure after all have run. */
  async run(): Promise<void> {
    const failures: unknown[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}

/**
 * Starts several servers at once; if any fails to start, closes those that did and rethrows,
 * so a failed setup leaves nothing running.
 */
export async function startedTogether<T extends readonly Closable[]>(starts: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starts as readonly Promise<Closable>[]);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failed === undefined) return settled.map((result) => (result as PromiseFulfilledResult<Closable>).value) as unknown as T;
  await Promise.allSettled(settled.flatMap((result) => (result.status === "fulfilled" ? [result.value.close()] : [])));
  throw failed.reason;
}
