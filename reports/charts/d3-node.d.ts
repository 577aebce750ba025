// d3-node ships no type declarations; this covers the part edgeplane uses.
declare module 'd3-node' {
  import type { Selection } from 'd3';
  export class D3Node {
    constructor(options?: { styles?: string; selector?: string; container?: string });
    d3Element: Selection<HTMLElement, unknown, null, undefined>;
    createSVG(width?: number, height?: number, attrs?: Record<string, string | number>): Selection<SVGSVGElement, unknown, null, undefined>;
    svgString(): string;
  }
}
