// Who is online, as a chat shows it; GET /stats reports it. The interop
// tests also read it to prove that a client wsgate refused never reached
// handleConnection.
import { Controller, Get, Injectable } from '@nestjs/common';

@Injectable()
export class Stats {
  handled = 0;
  online = new Map<string, number>();
  log: { sub: string; transport: string; namespace: string }[] = [];

  connected(sub: string, transport: string, namespace = '/'): void {
    this.handled++;
    this.online.set(sub, (this.online.get(sub) ?? 0) + 1);
    this.log.push({ sub, transport, namespace });
  }

  disconnected(sub: string | undefined): void {
    if (!sub) return;
    const n = (this.online.get(sub) ?? 1) - 1;
    if (n > 0) this.online.set(sub, n);
    else this.online.delete(sub);
  }
}

@Controller('stats')
export class StatsController {
  constructor(private readonly stats: Stats) {}

  @Get()
  get() {
    return {
      handled: this.stats.handled,
      online: Object.fromEntries(this.stats.online),
      connections: this.stats.log,
    };
  }
}
