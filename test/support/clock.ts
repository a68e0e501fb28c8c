/** A clock the test moves by hand, so expiry is tested at its boundaries without sleeping. */
export class TestClock {
  constructor(private current = Date.UTC(2026, 0, 1, 12)) {}

  readonly now = (): number => this.current;

  advance(ms: number): void {
    this.current += ms;
  }

  set(ms: number): void {
    this.current = ms;
  }
}
