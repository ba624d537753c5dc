import { IsUUID } from 'class-validator';

export class SetActiveMessageDto {
  /**
   * Any message of the room: the path through it becomes the active one, down to the leaf
   * that was active most recently below it (the newest leaf when none was).
   * @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51"
   */
  @IsUUID()
  messageId: string;
}
