import { BadRequestException, Injectable, UnauthorizedException } from '@nestjs/common';
import { UserResponseDto } from '../users/dto/user-response.dto';
import { UsersService } from '../users/users.service';
import type { TokenCaller } from './auth-user';
import { AuthResultDto } from './dto/auth-result.dto';
import { ChangePasswordDto } from './dto/change-password.dto';
import { LoginDto } from './dto/login.dto';
import { RegisterDto } from './dto/register.dto';
import { PasswordService } from './password.service';
import { IssuedSession, SessionsService } from './sessions.service';

/** An AuthResult for the body and, apart from the grace answer, a refresh token for the cookie. */
export interface SignedIn {
  body: AuthResultDto;
  refresh?: IssuedSession['refresh'];
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly passwords: PasswordService,
    private readonly sessions: SessionsService,
  ) {}

  async register(dto: RegisterDto, userAgent?: string): Promise<SignedIn> {
    const user = await this.users.create({
      email: dto.email,
      passwordHash: await this.passwords.hash(dto.password),
      displayName: dto.displayName ?? null,
    });
    return signedIn(await this.sessions.open(user, userAgent));
  }

  async login(dto: LoginDto, userAgent?: string): Promise<SignedIn> {
    const user = await this.users.findWithPasswordHash(dto.email);
    const ok = await this.passwords.verify(user?.passwordHash ?? null, dto.password);
    if (!user || !ok) throw new UnauthorizedException('Invalid email or password');
    const { id, email, displayName, createdAt } = user;
    return signedIn(await this.sessions.open({ id, email, displayName, createdAt }, userAgent));
  }

  async refresh(refreshToken: string | undefined): Promise<SignedIn> {
    const issued = await this.sessions.refresh(refreshToken);
    if (!issued) throw new UnauthorizedException('Invalid or expired refresh token');
    return signedIn(issued);
  }

  /**
   * Checks the current password, stores the new one's hash and revokes every other session.
   * A wrong and a right current password cost the same: one verification and one new hash
   * either way.
   */
  async changePassword(caller: TokenCaller, dto: ChangePasswordDto): Promise<void> {
    const stored = await this.users.passwordHashOf(caller);
    if (stored === null) throw new UnauthorizedException('Unauthorized');
    const [ok, newHash] = await Promise.all([
      this.passwords.verify(stored, dto.currentPassword),
      this.passwords.hash(dto.newPassword),
    ]);
    if (!ok) throw new BadRequestException('The current password is wrong');
    await this.sessions.changePassword(caller, newHash);
  }
}

function signedIn(issued: IssuedSession): SignedIn {
  return {
    body: {
      user: UserResponseDto.from(issued.user),
      accessToken: issued.accessToken,
      tokenType: 'Bearer',
      expiresIn: issued.expiresIn,
    },
    refresh: issued.refresh,
  };
}
