// One page of the single-page app: its root element, shown and hidden by the router.

export interface Page {
  readonly title: string;
  readonly root: HTMLElement;
  // The page became visible (start refresh timers) / was left (stop them).
  show(): void;
  hide(): void;
}
