import { Module } from '@nestjs/common';
import { SearchController } from './search.controller';
import { SearchService } from './search.service';

/** GET /api/search. Exports nothing: no other module searches. */
@Module({
  controllers: [SearchController],
  providers: [SearchService],
})
export class SearchModule {}
