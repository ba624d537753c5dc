import { User } from '../users/entities/user.entity';

/** Every entity the DataSource knows; listed explicitly so app, tests and CLI load the same set. */
export const entities = [User];
