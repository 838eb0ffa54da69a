// The leader's discovery publisher: keeps the retained discovery table current for every agent.
import { topics } from '../../shared/protocol.js';
import type { DiscoveryTable } from '../../shared/network.js';
import { TablePublisher, type TablePublisherDeps } from '../leader/table-publisher.js';
import { buildDiscoveryTable, discoveryContent } from './discovery-table.js';

export class DiscoveryPublisher extends TablePublisher<DiscoveryTable> {
  constructor(deps: TablePublisherDeps) {
    super(
      {
        what: 'discovery table',
        topic: topics.discoveryTable(),
        build: buildDiscoveryTable,
        content: discoveryContent,
        affects: (c) =>
          c.services.size > 0 ||
          c.tasks.size > 0 ||
          c.nodes.size > 0 ||
          c.networks.size > 0 ||
          c.stacks.size > 0,
      },
      deps,
    );
  }
}
