// The leader's ingress publisher: keeps the retained routing table current for every agent.
import { topics, type IngressTable } from '../../shared/protocol.js';
import { TablePublisher, type TablePublisherDeps } from '../leader/table-publisher.js';
import { buildIngressTable, tableContent } from './table.js';

export type IngressPublisherDeps = TablePublisherDeps;

export class IngressPublisher extends TablePublisher<IngressTable> {
  constructor(deps: IngressPublisherDeps) {
    super(
      {
        what: 'ingress table',
        topic: topics.ingressTable(),
        build: buildIngressTable,
        content: tableContent,
        affects: (c) => c.services.size > 0 || c.tasks.size > 0 || c.nodes.size > 0,
      },
      deps,
    );
  }
}
