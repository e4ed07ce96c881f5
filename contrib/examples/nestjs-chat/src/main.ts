// Entry point: PORT (default 3000) on HOST (default 127.0.0.1). Only wsgate
// should be able to reach this port: the identity headers are trusted.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AdminGateway, ChatGateway } from './chat.gateway.js';
import { Stats, StatsController } from './stats.js';

@Module({
  controllers: [StatsController],
  providers: [Stats, ChatGateway, AdminGateway],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  await app.listen(port, host);
  console.log(`nestjs-chat listening on ${host}:${port}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
