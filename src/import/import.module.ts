import { Module } from '@nestjs/common';
import { AssistantModule } from '../assistant/assistant.module';
import { AuthModule } from '../auth/auth.module';
import { ImportRunner } from './import-runner';
import { ImportsController } from './imports.controller';
import { ImportsRepository } from './imports.repository';
import { ImportsService } from './imports.service';

/**
 * POST /api/imports and the imports' reports; ImportRunner runs them in the background.
 * AssistantModule: the models a room may keep (ModelCatalog). AuthModule: SessionsService
 * tells 401 from 404 when a statement found nothing.
 */
@Module({
  imports: [AssistantModule, AuthModule],
  controllers: [ImportsController],
  providers: [ImportsService, ImportsRepository, ImportRunner],
  exports: [ImportRunner],
})
export class ImportModule {}
