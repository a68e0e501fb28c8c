import { ConflictException, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, type Repository } from 'typeorm';
import { burnPasswordCheck, hashPassword, verifyPassword } from './passwords.js';
import { User } from './user.entity.js';

/** What the demo shows of a user. */
export interface PublicUser {
  id: string;
  email: string;
}

const UNIQUE_VIOLATION = '23505';

@Injectable()
export class UsersService {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  async register(email: string, password: string): Promise<PublicUser> {
    const user = this.users.create({ email: email.toLowerCase(), passwordHash: await hashPassword(password) });
    try {
      await this.users.insert(user);
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === UNIQUE_VIOLATION) {
        throw new ConflictException('That email is already registered.');
      }
      throw error;
    }
    return { id: user.id, email: user.email };
  }

  async findById(id: string): Promise<PublicUser | null> {
    return this.users.findOne({ where: { id }, select: { id: true, email: true } });
  }

  /** The user for these credentials, or null, in about the same time whether the email exists or not. */
  async checkCredentials(email: string, password: string): Promise<PublicUser | null> {
    const user = await this.users.findOne({ where: { email: email.toLowerCase() }, select: { id: true, email: true, passwordHash: true } });
    if (!user) return burnPasswordCheck(password).then(() => null);
    return (await verifyPassword(password, user.passwordHash)) ? { id: user.id, email: user.email } : null;
  }
}
