// The versions chart: Chart.js 4 (canvas only: it draws with the 2D context, sets sizes through
// the CSSOM and injects no stylesheet, so it runs under the page's CSP with no 'unsafe-inline'),
// with only the pieces a line chart needs registered so esbuild leaves the rest out.
// Colours come from the theme's variables, read when the chart is drawn.

import { CategoryScale, Chart, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartConfiguration } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip);

export interface ChartPoint {
  tag: string;
  value: number | null;
}

function themeColor(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export class VersionsChart {
  private chart?: Chart<'line', (number | null)[], string>;

  constructor(private readonly canvas: HTMLCanvasElement) {}

  draw(points: ChartPoint[], metric: string): void {
    const line = themeColor('--vscode-charts-blue', themeColor('--vscode-focusBorder', '#3794ff'));
    const text = themeColor('--vscode-descriptionForeground', themeColor('--vscode-foreground', '#888888'));
    const grid = themeColor('--vscode-panel-border', themeColor('--vscode-widget-border', 'rgba(128,128,128,0.25)'));
    const font = { family: themeColor('--vscode-font-family', 'sans-serif'), size: 12 };
    const labels = points.map((p) => p.tag);
    const data = points.map((p) => p.value);
    if (this.chart) {
      this.chart.data.labels = labels;
      this.chart.data.datasets[0]!.data = data;
      this.chart.data.datasets[0]!.label = metric;
      this.chart.update('none');
      return;
    }
    const config: ChartConfiguration<'line', (number | null)[], string> = {
      type: 'line',
      data: { labels, datasets: [{ label: metric, data, borderColor: line, backgroundColor: line, pointRadius: 3, pointHoverRadius: 5, borderWidth: 2, spanGaps: true, tension: 0 }] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        // Devices pixels as the screen has them; the chart's text is redrawn at that scale.
        devicePixelRatio: window.devicePixelRatio || 1,
        interaction: { mode: 'nearest', intersect: false, axis: 'x' },
        scales: {
          x: { ticks: { color: text, font, autoSkip: true, maxRotation: 0 }, grid: { color: grid } },
          y: { ticks: { color: text, font }, grid: { color: grid } },
        },
        plugins: { tooltip: { enabled: true } },
      },
    };
    this.chart = new Chart(this.canvas, config);
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = undefined;
  }
}
