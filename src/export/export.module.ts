import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ExportController } from './export.controller';
import { ExportRepository } from './export.repository';
import { ExportService } from './export.service';

/**
 * GET /api/chat-rooms/:roomId/export and GET /api/users/me/export. Exports nothing.
 * AuthModule: SessionsService tells 401 from 404 when the first statement found nothing.
 */
@Module({
  imports: [AuthModule],
  controllers: [ExportController],
  providers: [ExportService, ExportRepository],
})
export class ExportModule {}
