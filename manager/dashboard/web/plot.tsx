// A small time plot drawn with uPlot: made once, fed new data on every render.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface PlotProps {
  title: string;
  /** Times in milliseconds, then one array per series. */
  data: [number[], ...(number | null)[][]];
  series: { label: string; stroke: string; scale?: string }[];
  /** A second axis on the right for series with scale "right". */
  rightLabel?: string;
  leftLabel: string;
}

export function Plot(p: PlotProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const seconds = (): uPlot.AlignedData =>
    [p.data[0].map((t) => t / 1000), ...p.data.slice(1)] as uPlot.AlignedData;
  useEffect(() => {
    if (!box.current) return;
    const opts: uPlot.Options = {
      title: p.title,
      width: Math.max(280, box.current.clientWidth),
      height: 180,
      series: [
        {},
        ...p.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          scale: s.scale ?? 'y',
          width: 1.5,
        })),
      ],
      axes: [
        {},
        { scale: 'y', label: p.leftLabel },
        ...(p.rightLabel
          ? [{ scale: 'right', side: 1, label: p.rightLabel, grid: { show: false } }]
          : []),
      ],
      scales: { x: { time: true } },
    };
    plot.current = new uPlot(opts, seconds(), box.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [p.title]);
  useEffect(() => {
    plot.current?.setData(seconds());
  });
  return <div class="plot" ref={box} />;
}
